"""Loaded inside vLLM's worker processes (``worker_extension_cls``): the weight-sync call of the RL trainer."""

from __future__ import annotations


class WeightSyncExtension:
    def deepeyes_load_weights(self, path: str) -> int:
        """Reload the model in place from a safetensors file of transformers-named weights (vLLM's in-place
        reload: checkpoint names mapped, kernels repacked, encoder and multimodal caches reset)."""
        from safetensors.torch import load_file

        weights = load_file(path)
        self.reload_weights(weights_iterator=iter(weights.items()), is_checkpoint_format=True)
        return len(weights)
