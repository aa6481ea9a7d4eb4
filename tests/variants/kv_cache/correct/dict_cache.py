# a dict of per-layer key/value lists joined once per step, the cache length kept in the dict, a boolean mask
# built by comparing positions
import torch


def generate(model, prompt, num_new_tokens):
    model.eval()
    cache = {"length": 0}

    def step(tokens):
        start, t = cache["length"], tokens.shape[1]
        x = model.embed(tokens, start=start)
        query_pos = torch.arange(start, start + t)[:, None]
        key_pos = torch.arange(start + t)[None, :]
        mask = key_pos <= query_pos
        for i, block in enumerate(model.layers):
            q, k, v = block.self_attn.project(block.norm1(x))
            if i in cache:
                k = torch.cat([cache[i]["k"], k], dim=-2)
                v = torch.cat([cache[i]["v"], v], dim=-2)
            cache[i] = {"k": k, "v": v}
            x = x + block.self_attn.attend(q, k, v, mask=mask)
            x = x + block.ffn(block.norm2(x))
        cache["length"] = start + t
        return model.logits(x)[:, -1, :]

    with torch.no_grad():
        out = prompt.clone()
        all_logits = []
        logits = step(prompt)
        for i in range(num_new_tokens):
            nxt = logits.argmax(-1)
            all_logits.append(logits)
            out = torch.cat([out, nxt[:, None]], dim=1)
            if i < num_new_tokens - 1:
                logits = step(nxt[:, None])
    return out, torch.stack(all_logits, 1)
