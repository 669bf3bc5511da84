"""depthforge for ComfyUI: copy this folder to ``ComfyUI/custom_nodes/comfyui-depthforge/`` (with depthforge
installed in ComfyUI's Python: ``pip install depthforge``). Not to ``custom_nodes/depthforge``: ComfyUI versions
that name a pack's module by its folder would let this folder hide the installed package (user trial 9)."""

from depthforge.integrations.comfyui import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
