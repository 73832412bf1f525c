"""Keypoint formats, velocities, flips and skeleton rendering (COCO-18 / OpenPose order)."""
