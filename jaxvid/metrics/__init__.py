"""Quality metrics: PSNR/SSIM (image.py), LPIPS (lpips.py)."""
