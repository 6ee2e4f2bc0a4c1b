"""What a finished run gives on request: apply, export, ONNX/TorchScript, merge, Grad-CAM."""
