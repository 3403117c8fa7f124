"""Evaluation metrics (FID, KID, sharpness, re-ID mAP/CMC, PXD physics checks), each usable on its own."""
