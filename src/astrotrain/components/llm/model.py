"""The LLM's parts: base model, LoRA/QLoRA wrapping, the fusion prefix projector.

* `train_tokenizer`: a byte-level BPE tokenizer (`tokenizers`) trained on the instruction
  corpus, for the offline default (nothing can be downloaded on this machine).
* `tiny_llama`: a small Llama-architecture causal LM built from a config (no weights needed).
* `load_causal_lm`: any Hugging Face causal LM from a local directory or a hub name
  (`transformers` 5.x: `dtype=`), optionally 4-bit quantised through bitsandbytes (QLoRA,
  Dettmers et al. 2023) and prepared with `prepare_model_for_kbit_training`. Without
  bitsandbytes installed this is a clear error, never a silent fallback to full precision.
* `with_lora`: `peft` LoRA (Hu et al. 2021) on the given modules, or peft's default modules
  for the architecture (q_proj/v_proj for Llama and Mistral, c_attn for GPT-2 …).
* `PrefixProjector`: the fusion embedding → k prefix token embeddings (LLaVA, Liu et al.
  2023), trained with the LoRA weights so that answers are grounded in fusion's reading of
  the planet; `prefixed_inputs` puts them in front of the token embeddings.
"""

from __future__ import annotations

import importlib.util

import torch
from torch import nn

from ...errors import UserError

SPECIAL_TOKENS = ("<pad>", "<s>", "</s>")


def train_tokenizer(texts: list[str], vocab_size: int):
    """A byte-level BPE `PreTrainedTokenizerFast` trained on `texts` (deterministic for the same texts)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(texts, trainer)
    pad, bos, eos = SPECIAL_TOKENS
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token=pad, bos_token=bos, eos_token=eos)


def tiny_llama(vocab_size: int, hidden: int = 128, layers: int = 4, heads: int = 4, intermediate: int = 344, max_positions: int = 512, seed: int = 0):
    """A small Llama-architecture causal LM with fresh weights (seeded)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=intermediate, num_hidden_layers=layers,
                         num_attention_heads=heads, num_key_value_heads=heads, max_position_embeddings=max_positions,
                         bos_token_id=1, eos_token_id=2, pad_token_id=0, tie_word_embeddings=True)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return LlamaForCausalLM(config)


def require_bitsandbytes() -> None:
    if importlib.util.find_spec("bitsandbytes") is None:
        raise UserError("llm.quantization=4bit (QLoRA) needs bitsandbytes: pip install 'astrotrain[qlora]' (bitsandbytes, a CUDA GPU), "
                        "or use plain LoRA with llm.quantization=none")


def load_causal_lm(name_or_path: str, dtype: torch.dtype = torch.float32, quantization: str = "none"):
    """A Hugging Face causal LM; `quantization="4bit"`: NF4 weights + bf16 compute, prepared for k-bit training."""
    from transformers import AutoModelForCausalLM

    if quantization == "4bit":
        require_bitsandbytes()
        from peft import prepare_model_for_kbit_training
        from transformers import BitsAndBytesConfig

        quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16,
                                   bnb_4bit_use_double_quant=True)
        model = AutoModelForCausalLM.from_pretrained(name_or_path, quantization_config=quant, dtype=torch.bfloat16)
        return prepare_model_for_kbit_training(model)
    try:
        return AutoModelForCausalLM.from_pretrained(name_or_path, dtype=dtype)
    except OSError as exc:  # not a local model directory, and no network / no such hub model
        raise UserError(f"llm.model_name_or_path={name_or_path!r} cannot be loaded ({exc.__class__.__name__}): give a local model "
                        "directory (config.json + weights), a hub name on a machine with network, or null for the offline tiny model") from None


def with_lora(model, r: int = 8, alpha: int = 16, dropout: float = 0.0, target_modules: list[str] | None = None):
    """`model` wrapped with LoRA adapters; target_modules None = peft's default for the architecture."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=target_modules, task_type="CAUSAL_LM")
    return get_peft_model(model, config)


class PrefixProjector(nn.Module):
    """Fusion embedding `[B, d_fusion]` → `[B, k, hidden]` prefix token embeddings (a 2-layer MLP)."""

    def __init__(self, d_fusion: int, hidden: int, k: int = 4):
        super().__init__()
        self.k, self.hidden = k, hidden
        self.net = nn.Sequential(nn.Linear(d_fusion, hidden), nn.GELU(), nn.Linear(hidden, k * hidden))

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.net(embedding).view(embedding.shape[0], self.k, self.hidden)


def prefixed_inputs(model, projector: PrefixProjector | None, fusion_embedding: torch.Tensor, input_ids: torch.Tensor,
                    attention_mask: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """`inputs_embeds`, `attention_mask` (and `labels`, the prefix positions ignored) for `model(**...)`.
    No projector (`prefix_tokens=0`, the ablation): the question's tokens alone."""
    tokens = model.get_input_embeddings()(input_ids)
    if projector is None:
        return {"inputs_embeds": tokens, "attention_mask": attention_mask, **({"labels": labels} if labels is not None else {})}
    prefix = projector(fusion_embedding).to(tokens.dtype)
    ones = attention_mask.new_ones(prefix.shape[:2])
    out = {"inputs_embeds": torch.cat([prefix, tokens], dim=1), "attention_mask": torch.cat([ones, attention_mask], dim=1)}
    if labels is not None:
        out["labels"] = torch.cat([labels.new_full(prefix.shape[:2], -100), labels], dim=1)
    return out
