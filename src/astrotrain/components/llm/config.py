"""Settings of the LLM component (`components.llm` in the master config)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ...config.base import component_section


class LLMConfig(
    component_section("LLM", unit="instruction pairs", max_epochs=2, batch_size=16, lr=0.002, weight_decay=0.0, warmup_steps=50, min_lr_ratio=0.05)
):
    model_name_or_path: str | None = Field(None, description="Hugging Face causal LM (local directory or hub name); null = the offline tiny Llama")
    quantization: Literal["none", "4bit"] = Field("none", description="4bit = QLoRA through bitsandbytes (extra: qlora, CUDA)")
    lora_r: int = Field(16, ge=1, le=1024, description="LoRA rank")
    lora_alpha: int = Field(32, ge=1, description="LoRA scaling numerator (scale = alpha / r)")
    lora_dropout: float = Field(0.0, ge=0, lt=1, description="dropout on the LoRA path")
    target_modules: list[str] | None = Field(None, description="modules that get adapters; null = peft's default for the architecture")
    prefix_tokens: int = Field(4, ge=0, le=64, description="prefix token embeddings the projector makes from the fusion embedding; 0 = no prefix (the ablation: answers from the question text alone)")
    observed_share: float = Field(0.75, ge=0, le=1, description="share of planets asked about with observations of their atmosphere; the others, from their parameters alone (as a catalog planet)")
    fusion: str | None = Field(None, description="run directory of a --mode full run with a finished phase 2 (the pipeline sets it)")
    vocab_size: int = Field(1000, ge=300, le=65536, description="offline default: BPE vocabulary trained on the train corpus")
    hidden: int = Field(128, ge=16, le=8192, description="offline default: width of the tiny Llama")
    layers: int = Field(4, ge=1, le=64, description="offline default: its layers")
    heads: int = Field(4, ge=1, le=64, description="offline default: its attention heads")
    pretrain_epochs: int = Field(2, ge=0, description="offline default: full-parameter epochs on the train corpus before LoRA")
    max_length: int = Field(320, ge=32, le=8192, description="tokens per question + answer")
    eval_planets: int = Field(200, ge=1, description="held-out test planets whose answers are generated and parsed")
    max_new_tokens: int = Field(40, ge=8, le=1024, description="generated tokens per answer")

    @model_validator(mode="after")
    def _heads_divide_width(self):
        if self.hidden % self.heads:
            raise ValueError(f"hidden={self.hidden} must be a multiple of heads={self.heads}")
        return self
