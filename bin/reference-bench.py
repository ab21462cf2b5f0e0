#!/usr/bin/env python3
"""Times batched greedy decode on DeepSeek's official reference (`inference/model.py` of
github.com/deepseek-ai/DeepSeek-V3), on CPU in float32, with a checkpoint `disaggmoe gen-model`
writes: the reference column of issue 19's comparison, beside `bench decode` and llama.cpp
(bin/llama-cpp-bench runs all three when REFERENCE names the reference's inference folder).

It needs PyTorch (Debian's python3-torch, 1.13, for /usr/bin/python3) and numpy, and runs the
reference's own modules unchanged. What it supplies around them, and why:
- `kernel`: the reference imports its Triton FP8 kernels at load time; Triton is on PyPI only.
  Only FP8 weights call them, and FP8 checkpoints are refused here.
- `F.rms_norm` where PyTorch lacks it (before 2.4): x / sqrt(mean(x^2) + eps) * weight.
- The router's score-correction bias on every gate: the reference gives a gate that bias only
  when the model is 7168 wide (DeepSeek-V3's size); our checkpoints are V3 at a smaller width.
- Weights read with numpy (the safetensors package is on PyPI only), BF16 widened to float32,
  and renamed as the reference's convert.py renames them.

Prompts are seeded random ids, 16 own tokens per sequence; with --context N one sequence's N
tokens are prefilled once and copied into every sequence's cache rows (as `bench decode
--context` and llama-batched-bench -pps do). Each step is timed alone; tokens/s is the batch
over the mean step. --check-ids prints the logits after a prompt, to compare with
`disaggmoe forward`.

usage: /usr/bin/python3 reference-bench.py --reference DIR --model DIR [--batch 1,8,32]
       [--steps 32] [--warmup 3] [--context N] [--threads 2] [--json] [--check-ids 0,43,...]
"""
import argparse
import json
import statistics
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from safetensors_numpy import as_f32, read_safetensors

OWN_TOKENS = 16

# HF module names -> the reference's, as its convert.py maps them.
NAMES = {
    "embed_tokens": "embed",
    "input_layernorm": "attn_norm",
    "post_attention_layernorm": "ffn_norm",
    "q_proj": "wq",
    "q_a_proj": "wq_a",
    "q_a_layernorm": "q_norm",
    "q_b_proj": "wq_b",
    "kv_a_proj_with_mqa": "wkv_a",
    "kv_a_layernorm": "kv_norm",
    "kv_b_proj": "wkv_b",
    "o_proj": "wo",
    "gate_proj": "w1",
    "down_proj": "w2",
    "up_proj": "w3",
    "lm_head": "head",
}


def import_reference(folder: Path) -> types.ModuleType:
    def fp8_only(*_args, **_kwargs):
        raise SystemExit("the reference's FP8 kernels need Triton; time a BF16 or F32 checkpoint")

    kernel = types.ModuleType("kernel")
    kernel.act_quant = kernel.weight_dequant = kernel.fp8_gemm = fp8_only
    sys.modules["kernel"] = kernel
    if not hasattr(F, "rms_norm"):

        def rms_norm(x, shape, weight, eps):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight

        F.rms_norm = rms_norm
    sys.path.insert(0, str(folder))
    import model  # the reference's inference/model.py

    return model


def model_args(ref, hp: dict, max_batch: int, max_seq: int):
    if hp.get("rope_scaling"):
        raise SystemExit("rope_scaling (YaRN) is not mapped by this script")
    return ref.ModelArgs(
        max_batch_size=max_batch,
        max_seq_len=max_seq,
        # No YaRN: the reference applies it when max_seq_len exceeds original_seq_len.
        original_seq_len=max(max_seq, hp["max_position_embeddings"]),
        vocab_size=hp["vocab_size"],
        dim=hp["hidden_size"],
        inter_dim=hp["intermediate_size"],
        moe_inter_dim=hp["moe_intermediate_size"],
        n_layers=hp["num_hidden_layers"],
        n_dense_layers=hp["first_k_dense_replace"],
        n_heads=hp["num_attention_heads"],
        n_routed_experts=hp["n_routed_experts"],
        n_shared_experts=hp["n_shared_experts"],
        n_activated_experts=hp["num_experts_per_tok"],
        n_expert_groups=hp.get("n_group") or 1,
        n_limited_groups=hp.get("topk_group") or 1,
        score_func=hp.get("scoring_func", "softmax"),
        route_scale=hp.get("routed_scaling_factor", 1.0),
        q_lora_rank=hp.get("q_lora_rank") or 0,
        kv_lora_rank=hp["kv_lora_rank"],
        qk_nope_head_dim=hp["qk_nope_head_dim"],
        qk_rope_head_dim=hp["qk_rope_head_dim"],
        v_head_dim=hp["v_head_dim"],
        rope_theta=hp["rope_theta"],
    )


def reference_name(hf: str) -> str:
    parts = hf.removeprefix("model.").split(".")
    parts = [{"self_attn": "attn", "mlp": "ffn"}.get(p, p) for p in parts]
    if parts[-1] == "e_score_correction_bias":
        parts[-1] = "bias"
    if len(parts) >= 2 and parts[-2] in NAMES:
        parts[-2] = NAMES[parts[-2]]
    return ".".join(parts)


def load(ref, model_dir: Path, max_batch: int, max_seq: int):
    hp = json.loads((model_dir / "config.json").read_text())
    torch.set_default_dtype(torch.float32)
    args = model_args(ref, hp, max_batch, max_seq)
    net = ref.Transformer(args)
    for layer in net.layers:
        gate = getattr(layer.ffn, "gate", None)
        if gate is not None and gate.bias is None and hp.get("topk_method") == "noaux_tc":
            gate.bias = torch.nn.Parameter(torch.zeros(args.n_routed_experts))
    state = {}
    for f in sorted(model_dir.glob("*.safetensors")):
        for name, (dtype, a) in read_safetensors(f).items():
            if name.endswith("weight_scale_inv"):
                raise SystemExit(f"{f}: {name}: FP8 checkpoints need the reference's Triton kernels")
            state[reference_name(name)] = torch.from_numpy(np.ascontiguousarray(as_f32(dtype, a)))
    net.float()  # the reference holds Linear weights as BF16 by default; float32 throughout here
    net.load_state_dict(state, strict=True)
    net.eval()
    return net, hp


def copy_context(net, rows: int, length: int) -> None:
    """Sequence 0's first `length` cache rows into every other sequence's, in every layer."""
    for layer in net.layers:
        for name in ("kv_cache", "pe_cache", "k_cache", "v_cache"):
            cache = getattr(layer.attn, name, None)
            if cache is not None:
                cache[1:rows, :length] = cache[0:1, :length]


def time_batch(net, hp, batch: int, steps: int, warmup: int, context: int) -> dict:
    """With a context, sequence 0's cache holds it already (see main)."""
    gen = torch.Generator().manual_seed(batch)
    vocab = hp["vocab_size"]
    if context:
        copy_context(net, batch, context)
        # Each sequence goes on with a token of its own, so that they route apart.
        nxt = torch.randint(0, vocab, (batch,), generator=gen)
        pos = context
    else:
        prompt = torch.randint(0, vocab, (batch, OWN_TOKENS), generator=gen)
        nxt = net(prompt, 0).argmax(-1)
        pos = OWN_TOKENS
    times = []
    for step in range(warmup + steps):
        start = time.perf_counter()
        logits = net(nxt[:, None], pos)
        nxt = logits.argmax(-1)
        elapsed = time.perf_counter() - start
        pos += 1
        if step >= warmup:
            times.append(elapsed)
    mean = statistics.fmean(times)
    return {
        "batch": batch,
        "tokens_per_s": batch / mean,
        "mean_step_ms": 1000 * mean,
        "median_step_ms": 1000 * statistics.median(times),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reference", type=Path, required=True, help="the reference's inference/ folder")
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--batch", default="1,8,32")
    p.add_argument("--steps", type=int, default=32)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--context", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", action="store_true")
    p.add_argument("--check-ids", help="print the logits after these prompt ids and stop")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    ref = import_reference(args.reference)
    batches = [int(b) for b in args.batch.split(",")]

    if args.check_ids:
        ids = [int(t) for t in args.check_ids.split(",")]
        net, _ = load(ref, args.model, 1, len(ids))
        logits = net(torch.tensor([ids]), 0)[0]
        shown = ", ".join(f"{v:.7g}" for v in logits[:3].tolist())
        tail = ", ".join(f"{v:.7g}" for v in logits[-3:].tolist())
        print(f"logits of the last position: {shown} ... {tail}; sum {logits.sum().item():.6f};"
              f" greedy id {logits.argmax().item()}")
        return

    first = args.context or OWN_TOKENS
    net, hp = load(ref, args.model, max(batches), first + args.warmup + args.steps)
    if args.context:
        # Steps write past the context only, so one prefill serves every batch size.
        net(torch.randint(0, hp["vocab_size"], (1, args.context), generator=torch.Generator().manual_seed(0)), 0)
    results = [time_batch(net, hp, b, args.steps, args.warmup, args.context) for b in batches]
    if args.json:
        print(json.dumps({"context": first, "threads": args.threads, "results": results}))
    else:
        print(f"reference model.py, float32, {args.threads} threads, context {first}")
        for r in results:
            print(f"batch {r['batch']}: {r['tokens_per_s']:.1f} tokens/s, step mean"
                  f" {r['mean_step_ms']:.2f} ms, median {r['median_step_ms']:.2f} ms")


if __name__ == "__main__":
    main()
