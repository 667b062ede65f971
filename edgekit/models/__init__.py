"""Model zoo: registry, cards, and the loaders for every model source."""

from edgekit.models.card import Card
from edgekit.models.registry import create_model, get_card, list_models, register_model

__all__ = ["Card", "create_model", "get_card", "list_models", "register_model"]
