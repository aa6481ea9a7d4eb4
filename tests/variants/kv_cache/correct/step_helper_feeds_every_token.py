# a module-level step helper with the start position passed in, torch.inference_mode, the last chosen token also
# fed through the model (one step more than needed), the model's training mode restored afterwards
import torch


def forward_step(model, tokens, cache, start):
    x = model.embed(tokens, start)
    t = tokens.shape[1]
    mask = torch.ones(start + t, start + t, dtype=torch.bool).tril()[start:]
    new_cache = []
    for block, layer_cache in zip(model.layers, cache):
        q, k, v = block.self_attn.project(block.norm1(x))
        if layer_cache:
            k = torch.cat((layer_cache[0], k), 2)
            v = torch.cat((layer_cache[1], v), 2)
        new_cache.append((k, v))
        x = x + block.self_attn.attend(q, k, v, mask)
        x = x + block.ffn(block.norm2(x))
    return model.logits(x), new_cache


def generate(model, prompt, num_new_tokens):
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        cache = [()] * len(model.layers)
        logits, cache = forward_step(model, prompt, cache, 0)
        tokens, chosen_from = prompt, []
        for _ in range(num_new_tokens):
            last = logits[:, -1]
            chosen_from.append(last)
            new = last.argmax(-1, keepdim=True)
            tokens = torch.cat((tokens, new), 1)
            logits, cache = forward_step(model, new, cache, tokens.shape[1] - 1)
    model.train(was_training)
    return tokens, torch.stack(chosen_from, 1)
