#!/usr/bin/env python3
"""Writes a DeepSeek-V3-family HF checkpoint (the ones `disaggmoe gen-model` makes) as a GGUF file
that llama.cpp loads as its `deepseek2` architecture, to time llama.cpp on the same weights
(bin/llama-cpp-bench).

llama.cpp's own convert_hf_to_gguf.py does this for any model, but it needs PyTorch and Hugging
Face transformers, which only PyPI has. This needs numpy and llama.cpp's gguf-py (on PYTHONPATH),
and does what that converter's DeepseekV2Model does for these checkpoints: the routed experts
stacked per layer, kv_b_proj split into k_b (transposed) and v_b for absorbed MLA, norms, router
and bias in float32, MLA written as one KV head, the tokenizer's first vocab_size tokens with
the merges among them.

usage: hf-to-gguf.py MODEL_DIR OUT.gguf [--outtype f32|bf16]
"""
import argparse
import json
from pathlib import Path

import numpy as np

import gguf
from safetensors_numpy import as_f32, read_safetensors


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("model", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--outtype", choices=["f32", "bf16"], default="f32")
    args = p.parse_args()

    hp = json.loads((args.model / "config.json").read_text())
    if hp.get("rope_scaling"):
        raise SystemExit("rope_scaling (YaRN) is not written by this script")
    n_layer = hp["num_hidden_layers"]
    n_head = hp["num_attention_heads"]
    vocab = hp["vocab_size"]
    nope, rope, v_dim, kv_lora = hp["qk_nope_head_dim"], hp["qk_rope_head_dim"], hp["v_head_dim"], hp["kv_lora_rank"]

    w = gguf.GGUFWriter(args.out, gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.DEEPSEEK2])
    w.add_file_type(gguf.LlamaFileType.ALL_F32 if args.outtype == "f32" else gguf.LlamaFileType.MOSTLY_BF16)
    w.add_block_count(n_layer)
    w.add_context_length(hp["max_position_embeddings"])
    w.add_embedding_length(hp["hidden_size"])
    w.add_feed_forward_length(hp["intermediate_size"])
    w.add_head_count(n_head)
    w.add_head_count_kv(1)  # MLA as one latent KV head, as llama.cpp's converter writes it
    w.add_rope_freq_base(hp["rope_theta"])
    w.add_layer_norm_rms_eps(hp["rms_norm_eps"])
    w.add_expert_count(hp["n_routed_experts"])
    w.add_expert_used_count(hp["num_experts_per_tok"])
    if hp.get("n_group"):
        w.add_expert_group_count(hp["n_group"])
        w.add_expert_group_used_count(hp["topk_group"])
    w.add_expert_gating_func(
        gguf.ExpertGatingFuncType.SIGMOID if hp.get("scoring_func") == "sigmoid" else gguf.ExpertGatingFuncType.SOFTMAX
    )
    w.add_leading_dense_block_count(hp["first_k_dense_replace"])
    w.add_vocab_size(vocab)
    if hp.get("q_lora_rank"):
        w.add_q_lora_rank(hp["q_lora_rank"])
    w.add_kv_lora_rank(kv_lora)
    w.add_key_length(kv_lora + rope)
    w.add_value_length(kv_lora)
    w.add_key_length_mla(nope + rope)
    w.add_value_length_mla(v_dim)
    w.add_expert_feed_forward_length(hp["moe_intermediate_size"])
    w.add_expert_shared_count(hp["n_shared_experts"])
    w.add_expert_weights_scale(hp["routed_scaling_factor"])
    if hp.get("norm_topk_prob"):
        w.add_expert_weights_norm(True)
    w.add_rope_dimension_count(rope)

    # The tokenizer: its first `vocab` ids (the embedding's rows), and the merges among them.
    tok = json.loads((args.model / "tokenizer.json").read_text())
    by_id = {i: t for t, i in tok["model"]["vocab"].items()}
    special = {a["id"] for a in tok["added_tokens"] if a["special"]}
    for a in tok["added_tokens"]:
        by_id[a["id"]] = a["content"]
    tokens, types = [], []
    for i in range(vocab):
        tokens.append(by_id.get(i, f"[PAD{i}]"))
        types.append(gguf.TokenType.CONTROL if i in special else gguf.TokenType.NORMAL if i in by_id else gguf.TokenType.UNUSED)
    kept = set(tokens)
    merges = []
    for m in tok["model"]["merges"]:
        a, b = m.split(" ", 1) if isinstance(m, str) else m
        if a in kept and b in kept and a + b in kept:
            merges.append(f"{a} {b}")
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("deepseek-v3")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(hp["bos_token_id"])
    w.add_eos_token_id(hp["eos_token_id"])
    w.add_add_bos_token(True)

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.DEEPSEEK2, n_layer)
    tensors = {}
    for f in sorted(args.model.glob("*.safetensors")):
        tensors.update(read_safetensors(f))

    def put(hf_name: str, dtype: str, a: np.ndarray) -> None:
        base = hf_name.removesuffix(".weight").replace("e_score_correction_bias", "e_score_correction")
        name = names.get_name(base)
        if name is None:
            raise SystemExit(f"no GGUF name for {hf_name}")
        name += ".bias" if hf_name.endswith("_bias") else ".weight"
        keep_f32 = a.ndim <= 1 or name.endswith("_norm.weight") or ".ffn_gate_inp." in name
        if args.outtype == "f32" or keep_f32:
            w.add_tensor(name, np.ascontiguousarray(as_f32(dtype, a)))
        elif dtype == "BF16":
            w.add_tensor(name, np.ascontiguousarray(a), raw_shape=a.shape, raw_dtype=gguf.GGMLQuantizationType.BF16)
        else:
            raise SystemExit(f"{hf_name} is {dtype}; bf16 output needs BF16 weights")

    experts = {}
    for hf_name, (dtype, a) in tensors.items():
        parts = hf_name.split(".")
        if ".mlp.experts." in hf_name:
            layer, expert, proj = int(parts[2]), int(parts[5]), parts[6]
            experts.setdefault((layer, proj), {})[expert] = (dtype, a)
        elif hf_name.endswith("kv_b_proj.weight"):
            kv_b = a.reshape(n_head, nope + v_dim, a.shape[-1])
            put(hf_name.replace("kv_b_proj", "k_b_proj"), dtype, kv_b[:, :nope, :].transpose(0, 2, 1))
            put(hf_name.replace("kv_b_proj", "v_b_proj"), dtype, kv_b[:, nope:, :])
        else:
            put(hf_name, dtype, a)
    for (layer, proj), by_expert in sorted(experts.items()):
        dtype = by_expert[0][0]
        stacked = np.stack([by_expert[e][1] for e in range(hp["n_routed_experts"])])
        put(f"model.layers.{layer}.mlp.experts.{proj}.weight", dtype, stacked)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
