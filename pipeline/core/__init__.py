"""The core: maths on tensors and arrays, no file paths. VGG19 and its weights (vgg), the loss terms (losses), colour
preservation (color), the optimizer loop (optimize), the stylizer (stylizer), every size helper (geometry), flow,
warping and scene cuts (temporal), one frame analysis and one warm start (coherence), the device (devices) and the
out-of-memory fallback (oom). It imports nothing above it but the torch-free config, errors and events, and never
prints."""
