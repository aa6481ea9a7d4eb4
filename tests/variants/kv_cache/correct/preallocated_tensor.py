# one preallocated tensor for every layer's keys and values, filled in place; the newest query attends to the
# filled part without a mask
import torch


@torch.no_grad()
def generate(model, prompt, num_new_tokens):
    model.eval()
    batch, P = prompt.shape
    total = P + num_new_tokens
    first = model.layers[0].self_attn
    # (layer, keys/values, batch, heads, position, d_k)
    cache = torch.zeros(len(model.layers), 2, batch, first.num_heads, total, first.d_k,
                        dtype=model.tok_emb.weight.dtype)
    tokens = torch.empty(batch, total, dtype=prompt.dtype)
    tokens[:, :P] = prompt
    step_logits = torch.empty(batch, num_new_tokens, model.head.out_features)
    length = 0
    for i in range(num_new_tokens):
        new = tokens[:, :P] if i == 0 else tokens[:, length:length + 1]
        t = new.shape[1]
        x = model.embed(new, length)
        mask = torch.tril(torch.ones(t, t, dtype=torch.bool)) if t > 1 else None
        for layer, block in enumerate(model.layers):
            q, k, v = block.self_attn.project(block.norm1(x))
            cache[layer, 0, :, :, length:length + t] = k
            cache[layer, 1, :, :, length:length + t] = v
            keys = cache[layer, 0, :, :, :length + t]
            values = cache[layer, 1, :, :, :length + t]
            x = x + block.self_attn.attend(q, keys, values, mask)
            x = x + block.ffn(block.norm2(x))
        length += t
        logits = model.logits(x[:, -1:])[:, 0]
        step_logits[:, i] = logits
        tokens[:, length] = logits.argmax(-1)
    return tokens, step_logits
