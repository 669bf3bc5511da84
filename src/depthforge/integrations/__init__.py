"""Integrations with the tools depthforge's users already work in: :mod:`depthforge.integrations.comfyui`, the
ComfyUI node pack. (The AUTOMATIC1111-compatible HTTP API lives with the rest of the server in
:mod:`depthforge.web.a1111`.)"""
