# the cache is filled by the prompt and never extended: each step sees the prompt and itself only
import torch


def generate(model, prompt, num_new_tokens):
    model.eval()
    cache = [None] * len(model.layers)

    def run(tokens, start):
        x = model.embed(tokens, start)
        t = tokens.shape[1]
        mask = torch.ones(t, t, dtype=torch.bool).tril() if t > 1 else None  # one new query sees every key
        for layer, block in enumerate(model.layers):
            q, k, v = block.self_attn.project(block.norm1(x))
            if cache[layer] is not None:
                k = torch.cat([cache[layer][0], k], dim=2)
                v = torch.cat([cache[layer][1], v], dim=2)
            if cache[layer] is None:
                cache[layer] = (k, v)
            x = x + block.self_attn.attend(q, k, v, mask)
            x = x + block.ffn(block.norm2(x))
        return model.logits(x[:, -1])

    with torch.no_grad():
        tokens, step_logits = prompt, []
        logits = run(prompt, 0)
        for step in range(num_new_tokens):
            step_logits.append(logits)
            tokens = torch.cat([tokens, logits.argmax(dim=-1, keepdim=True)], dim=1)
            if step + 1 < num_new_tokens:
                logits = run(tokens[:, -1:], tokens.shape[1] - 1)
        return tokens, torch.stack(step_logits, dim=1)
