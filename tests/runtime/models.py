"""Tiny model repos, made in memory: the files of a one-layer Llama-like model whose
tensors come from a seed, so that two seeds are two models a test can tell apart by the
digests of their tensors (`tensor_digests`), whoever loaded them; and LoRA adapters of that
model, made the same way (`tiny_adapter`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
from safetensors.numpy import load, save

VOCAB = 2048
HIDDEN = 64
INTERMEDIATE = 128
HEADS = 4

# The tensors of model.safetensors, in the order they are drawn from the seed:
# 2 x 512 KiB of embeddings and head, 96 KiB of one decoder layer, about 1.2 MB in all.
SHAPES: dict[str, tuple[int, ...]] = {
    "model.embed_tokens.weight": (VOCAB, HIDDEN),
    "model.layers.0.input_layernorm.weight": (HIDDEN,),
    "model.layers.0.self_attn.q_proj.weight": (HIDDEN, HIDDEN),
    "model.layers.0.self_attn.k_proj.weight": (HIDDEN, HIDDEN),
    "model.layers.0.self_attn.v_proj.weight": (HIDDEN, HIDDEN),
    "model.layers.0.self_attn.o_proj.weight": (HIDDEN, HIDDEN),
    "model.layers.0.post_attention_layernorm.weight": (HIDDEN,),
    "model.layers.0.mlp.gate_proj.weight": (INTERMEDIATE, HIDDEN),
    "model.layers.0.mlp.up_proj.weight": (INTERMEDIATE, HIDDEN),
    "model.layers.0.mlp.down_proj.weight": (HIDDEN, INTERMEDIATE),
    "model.norm.weight": (HIDDEN,),
    "lm_head.weight": (VOCAB, HIDDEN),
}


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True) + "\n").encode()


def tiny_model(seed: int, *, llama_original: bool = False) -> dict[str, bytes]:
    """The files of a small model repo (relative path -> bytes), the same for the same seed.

    With `llama_original` the repo also carries `original/consolidated.00.pth` (seeded bytes,
    as large as model.safetensors) and `original/params.json`, as meta-llama repos do.
    """
    rng = np.random.default_rng(seed)
    tensors = {name: rng.standard_normal(shape, dtype=np.float32) for name, shape in SHAPES.items()}
    weights = save(tensors, metadata={"format": "pt"})
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": VOCAB,
        "hidden_size": HIDDEN,
        "intermediate_size": INTERMEDIATE,
        "num_hidden_layers": 1,
        "num_attention_heads": HEADS,
        "num_key_value_heads": HEADS,
        "max_position_embeddings": 256,
        "rms_norm_eps": 1e-05,
        "rope_theta": 10000.0,
        "hidden_act": "silu",
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
        "bos_token_id": 1,
        "eos_token_id": 2,
    }
    files = {
        "config.json": _json(config),
        "generation_config.json": _json({"bos_token_id": 1, "eos_token_id": 2}),
        "tokenizer_config.json": _json(
            {"bos_token": "<s>", "eos_token": "</s>", "model_max_length": 256}
        ),
        "model.safetensors": weights,
    }
    if llama_original:
        files["original/consolidated.00.pth"] = np.random.default_rng([seed, 1]).bytes(len(weights))
        files["original/params.json"] = _json(
            {
                "dim": HIDDEN,
                "n_layers": 1,
                "n_heads": HEADS,
                "n_kv_heads": HEADS,
                "vocab_size": VOCAB,
                "norm_eps": 1e-05,
                "rope_theta": 10000.0,
            }
        )
    return files


# The modules a tiny adapter adapts, as PEFT names them in adapter_config.json.
ADAPTED = ("q_proj", "v_proj")


def tiny_adapter(seed: int, base_model_name: str, rank: int = 8) -> dict[str, bytes]:
    """The files of a PEFT LoRA adapter of the tiny model (relative path -> bytes), the same
    for the same seed: adapter_config.json (`peft_type` LORA, `r`, `base_model_name_or_path`
    as vLLM's filesystem resolver matches it) and adapter_model.safetensors, whose lora_A
    (r x HIDDEN) and lora_B (HIDDEN x r) of each adapted projection come from the seed."""
    rng = np.random.default_rng([seed, 2])
    tensors = {}
    for module in ADAPTED:
        prefix = f"base_model.model.model.layers.0.self_attn.{module}"
        tensors[f"{prefix}.lora_A.weight"] = rng.standard_normal((rank, HIDDEN), dtype=np.float32)
        tensors[f"{prefix}.lora_B.weight"] = rng.standard_normal((HIDDEN, rank), dtype=np.float32)
    config = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base_model_name,
        "r": rank,
        "lora_alpha": 2 * rank,
        "lora_dropout": 0.0,
        "bias": "none",
        "target_modules": list(ADAPTED),
        "fan_in_fan_out": False,
        "inference_mode": True,
    }
    return {
        "adapter_config.json": _json(config),
        "adapter_model.safetensors": save(tensors, metadata={"format": "pt"}),
    }


def tensor_digests(files: dict[str, bytes]) -> dict[str, str]:
    """Tensor name -> sha256 of its raw little-endian bytes, over every *.safetensors file."""
    digests: dict[str, str] = {}
    for path in sorted(files):
        if not path.endswith(".safetensors"):
            continue
        for name, array in load(files[path]).items():
            if name in digests:
                raise ValueError(f"tensor {name} is in more than one file ({path})")
            little = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
            digests[name] = hashlib.sha256(little.tobytes()).hexdigest()
    return digests
