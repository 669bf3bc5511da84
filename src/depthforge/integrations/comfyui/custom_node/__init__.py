"""depthforge for ComfyUI: copy this folder to ``ComfyUI/custom_nodes/depthforge/`` (with depthforge installed in
ComfyUI's Python: ``pip install depthforge``)."""

from depthforge.integrations.comfyui import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
