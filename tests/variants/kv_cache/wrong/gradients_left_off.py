# gradients switched off with torch.set_grad_enabled(False) and never switched back on: training after generate fails
import torch


def generate(model, prompt, num_new_tokens):
    model.eval()
    cache = [None] * len(model.layers)

    def run(tokens, start):
        x = model.embed(tokens, start)
        t = tokens.shape[1]
        mask = torch.ones(t, start + t, dtype=torch.bool).tril(diagonal=start)
        for layer, block in enumerate(model.layers):
            q, k, v = block.self_attn.project(block.norm1(x))
            if cache[layer] is not None:
                k = torch.cat([cache[layer][0], k], dim=2)
                v = torch.cat([cache[layer][1], v], dim=2)
            cache[layer] = (k, v)
            x = x + block.self_attn.attend(q, k, v, mask)
            x = x + block.ffn(block.norm2(x))
        return model.logits(x[:, -1])

    torch.set_grad_enabled(False)
    if True:
        tokens, step_logits = prompt, []
        logits = run(prompt, 0)
        for step in range(num_new_tokens):
            step_logits.append(logits)
            tokens = torch.cat([tokens, logits.argmax(dim=-1, keepdim=True)], dim=1)
            if step + 1 < num_new_tokens:
                logits = run(tokens[:, -1:], tokens.shape[1] - 1)
        return tokens, torch.stack(step_logits, dim=1)
