"""Building blocks: small, pure, tested business logic that specs name and generators copy.

The factory never invents money logic: a rule in a spec names a block from `CATALOG`, and the
generated product carries that block's module verbatim (see `catalog.py`).
"""

from factory.blocks.catalog import CATALOG, Block, BlockInput, BlockOutput, block_get, catalog_markdown

__all__ = ["CATALOG", "Block", "BlockInput", "BlockOutput", "block_get", "catalog_markdown"]
