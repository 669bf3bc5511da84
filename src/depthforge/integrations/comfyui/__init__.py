"""The ComfyUI node pack: ``NODE_CLASS_MAPPINGS`` and ``NODE_DISPLAY_NAME_MAPPINGS`` as ComfyUI reads them.

Install: ``pip install depthforge`` into ComfyUI's Python, then copy the folder ``custom_node/`` (its
``__init__.py`` imports this module) into ``ComfyUI/custom_nodes/comfyui-depthforge/``. Importing the pack never imports
ComfyUI; the nodes use ComfyUI's device and output folder when they run inside it.
"""

from __future__ import annotations

from depthforge.integrations.comfyui.nodes import NODES

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]

NODE_CLASS_MAPPINGS: dict[str, type] = dict(NODES)
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {key: cls.DISPLAY for key, cls in NODES.items()}
