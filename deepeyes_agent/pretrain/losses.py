"""The auxiliary losses of pretraining (the probes are discarded afterwards). Each makes one thing the
tiny model needs for grounding and reading a large, learnable part of its representations; why each was
needed is in recipes/embedded_model/RECIPE.md."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .batch import COLOUR_CLASSES, PATTERN_CLASSES, box_queries, first_image_offsets, grid_targets, token_labels
from .config import PretrainConfig


class Probes(torch.nn.Module):
    """Auxiliary linear probes (discarded after pretraining): grid position from the LLM's image-token
    states; sign colour and texture from the image features the merger feeds the LLM."""

    def __init__(self, hidden: int):
        super().__init__()
        self.position = torch.nn.Linear(hidden, 2)
        self.box = torch.nn.Linear(hidden, 4)  # at the k-th number-emitting token: the k-th box coordinate
        self.colour = torch.nn.Linear(hidden, len(COLOUR_CLASSES))
        self.pattern = torch.nn.Linear(hidden, len(PATTERN_CLASSES))
        self.colour_proto = torch.nn.Parameter(torch.randn(len(COLOUR_CLASSES), hidden))  # colour_binding's


def attention_to_target(cfg: PretrainConfig, boxes, batch, attentions, merge: int, colour_labels):
    """−log of the attention mass head 0 of one layer puts on the target sign's image tokens, at the
    positions that emit the box's numbers: a pointer to what the box must surround."""
    layer = attentions[cfg.attention_supervision_layer]  # (batch, heads, query, key)
    offsets = first_image_offsets(batch, merge)
    losses = []
    for row, queries, image_pos in boxes:  # single-image rows
        colour = COLOUR_CLASSES.index(batch.samples[row].truth["colour"])
        cells = colour_labels[offsets[row] : offsets[row + 1]]
        keys = [p for p, c in zip(image_pos, cells.tolist()) if c == colour]
        if not keys or not queries:
            continue
        mass = layer[row, 0][queries][:, keys].sum(-1)
        losses.append(-torch.log(mass + 1e-6).mean())
    return torch.stack(losses).mean() if losses else None


def colour_binding(boxes, batch, x, image_positions, colour_labels, probe: Probes):
    """Shared colour prototypes at the supervised attention layer's input (``x``: what its queries and keys
    are computed from): each image token must project onto its sign's colour ("none" off signs) and each
    box-emitting token onto the colour the prompt named, against unit-norm prototypes. The colour then has
    to be a large part of both representations, in the same directions, so one head can match them: without
    it the named colour at the box tokens is linearly decodable only after standardising (its directions have
    ~1 % of the variance) and the pointer head never learned to pick the named sign among 2–3."""
    protos = F.normalize(probe.colour_proto, dim=-1)
    loss = F.cross_entropy(x[image_positions] @ protos.T, colour_labels)
    queries, named = [], []
    for row, positions, _ in boxes:
        colour = COLOUR_CLASSES.index(batch.samples[row].truth["colour"])
        queries += [x[row, p] for p in positions]
        named += [colour] * len(positions)
    if queries:
        loss = loss + F.cross_entropy(torch.stack(queries) @ protos.T, torch.tensor(named, device=x.device))
    return loss


def box_regression(boxes, batch, last_hidden, probe: Probes):
    """MSE of the k-th box coordinate (normalised by the view size) read linearly from the final hidden
    state at the token that emits it: the target's position must reach the emitting token precisely."""
    preds, targets = [], []
    for row, queries, _ in boxes:
        truth = batch.samples[row].truth
        vw, vh = truth["view"]
        norm = [truth["box"][0] / vw, truth["box"][1] / vh, truth["box"][2] / vw, truth["box"][3] / vh]
        for k, q in enumerate(queries[:4]):
            preds.append(torch.sigmoid(probe.box(last_hidden[row, q]))[k])
            targets.append(norm[k])
    if not preds:
        return None
    return F.mse_loss(torch.stack(preds), torch.tensor(targets, device=last_hidden.device))


def auxiliary_losses(
    cfg: PretrainConfig, step: int, model, out, batch, builder, probe: Probes, merge: int, supervise: bool
) -> tuple[list[torch.Tensor], dict]:
    """The weighted auxiliary terms of this step's loss, in order, and their values for the metrics."""
    terms, record = [], {}
    image_positions = batch.input_ids == builder.image_token_id
    if cfg.aux_position_weight > 0:  # image tokens' hidden states know their grid position
        h = out.hidden_states[cfg.aux_position_layer][image_positions]
        aux = F.mse_loss(
            torch.sigmoid(probe.position(h)), grid_targets(batch, builder.image_token_id, merge).to(h.device)
        )
        terms.append(cfg.aux_position_weight * aux)
        record["aux_position_loss"] = aux.item()
    colour_t, pattern_t = (t.to(batch.input_ids.device) for t in token_labels(batch, merge))
    boxes = box_queries(builder, batch)  # (row, box-emitting positions, image positions) of grounding rows
    if supervise:
        att = attention_to_target(cfg, boxes, batch, out.attentions, merge, colour_t)
        if att is not None:
            terms.append(cfg.attention_supervision_weight * att)
            record["attention_supervision_loss"] = att.item()
    if cfg.aux_box_weight > 0 and step >= cfg.aux_box_from_step:
        box = box_regression(boxes, batch, out.last_hidden_state, probe)
        if box is not None:
            terms.append(cfg.aux_box_weight * box)
            record["aux_box_loss"] = box.item()
    if cfg.colour_binding_weight > 0:
        layer = model.model.language_model.layers[cfg.attention_supervision_layer]
        x = layer.input_layernorm(out.hidden_states[cfg.attention_supervision_layer])
        binding = colour_binding(boxes, batch, x, image_positions, colour_t, probe)
        terms.append(cfg.colour_binding_weight * binding)
        record["colour_binding_loss"] = binding.item()
    if cfg.aux_token_weight > 0:  # the image features themselves must tell colours and textures apart
        feats = out.hidden_states[0][image_positions]
        aux_c = F.cross_entropy(probe.colour(feats), colour_t)
        labelled = pattern_t != -100  # patterns are labelled in crops only; a batch may hold none
        aux_p = (
            F.cross_entropy(probe.pattern(feats[labelled]), pattern_t[labelled]) if labelled.any() else feats.sum() * 0
        )
        terms.append(cfg.aux_token_weight * (aux_c + aux_p))
        record["aux_colour_loss"], record["aux_pattern_loss"] = aux_c.item(), aux_p.item()
    return terms, record
