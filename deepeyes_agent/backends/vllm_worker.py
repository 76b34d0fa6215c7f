"""Loaded inside vLLM's worker processes (``worker_extension_cls``): the weight-sync call of the RL trainer."""

from __future__ import annotations


class WeightSyncExtension:
    def deepeyes_load_weights(self, path: str) -> int:
        """Reload the model in place from a safetensors file of transformers-named weights (vLLM's in-place
        reload: checkpoint names mapped, kernels repacked, encoder and multimodal caches reset), then tie the
        output head to the new embeddings again."""
        from safetensors.torch import load_file

        weights = load_file(path)
        self.reload_weights(weights_iterator=iter(weights.items()), is_checkpoint_format=True)
        retie_output_heads(self.model_runner.get_model())
        return len(weights)


def retie_output_heads(model) -> int:
    """vLLM 0.32's layerwise reload loads ``embed_tokens`` but, finding no ``lm_head`` weight in a checkpoint of
    a tied model, puts the head's OLD kernel tensors back: the engine would keep scoring tokens with the
    embeddings it started with (on CPU the head's GEMM also holds a packed copy). Point each tied head at its
    model's embeddings and let its quant method process the weight again. Returns the heads re-tied."""
    from vllm.model_executor.layers.vocab_parallel_embedding import ParallelLMHead, VocabParallelEmbedding

    tied = 0
    for module in model.modules():
        head = getattr(module, "lm_head", None)
        embed = getattr(getattr(module, "model", None), "embed_tokens", None)
        config = getattr(module, "config", None)
        if (
            isinstance(head, ParallelLMHead)
            and isinstance(embed, VocabParallelEmbedding)
            and getattr(config, "tie_word_embeddings", False)
        ):
            head.weight = embed.weight
            head.quant_method.process_weights_after_loading(head)
            tied += 1
    return tied
