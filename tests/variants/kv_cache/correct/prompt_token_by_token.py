# the prompt fed one position at a time through the same step as the new tokens (no separate prompt pass),
# the cache a list of per-layer [keys, values] lists
import torch


def generate(model, prompt, num_new_tokens):
    model.eval()
    cache = [[None, None] for _ in model.layers]

    def step(token, position):  # token (batch, 1) at `position`
        x = model.embed(token, position)
        for block, kv in zip(model.layers, cache):
            q, k, v = block.self_attn.project(block.norm1(x))
            kv[0] = k if kv[0] is None else torch.cat([kv[0], k], dim=2)
            kv[1] = v if kv[1] is None else torch.cat([kv[1], v], dim=2)
            x = x + block.self_attn.attend(q, kv[0], kv[1])  # one query, every cached key is in its past
            x = x + block.ffn(block.norm2(x))
        return model.logits(x)[:, -1]

    with torch.no_grad():
        for position in range(prompt.shape[1]):
            logits = step(prompt[:, position:position + 1], position)
        tokens, chosen_from = prompt, []
        for i in range(num_new_tokens):
            chosen_from.append(logits)
            tokens = torch.cat([tokens, logits.argmax(-1, keepdim=True)], dim=1)
            if i + 1 < num_new_tokens:
                logits = step(tokens[:, -1:], tokens.shape[1] - 1)
    return tokens, torch.stack(chosen_from, dim=1)
