"""How steadily a video's poses follow one person: the largest jump of the hip centre between
consecutive frames where both are detected, as a share of the frame's width (issue 45's goal:
never above a quarter), with who was followed and how often they were found.

  python experiments/track_jumps.py VIDEO [--person=largest|X,Y|any]
"""
import argparse

import numpy as np

from jaxvid.poses import extract, track


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("video")
  parser.add_argument("--person", default="largest")
  args = parser.parse_args()
  choice = None if args.person == "any" else track.Choice.parse(args.person)
  extractor = extract.PoseExtractor()
  poses = extract.extract_file(args.video, extractor, show_progress=False, person=choice,
                               log=print)
  extractor.close()
  centres = [track.hip_centre(k) if d else None for k, d in zip(poses.keypoints, poses.detected)]
  jumps = [float(np.linalg.norm(a - b)) for a, b in zip(centres, centres[1:])
           if a is not None and b is not None]
  width = poses.size[1]
  found = [i for i, c in enumerate(centres) if c is not None]
  print(f"{args.video}: person {args.person}: found in {len(found)} of {len(centres)} frames "
        f"({found[0] if found else '-'}..{found[-1] if found else '-'}); {len(jumps)} consecutive "
        f"pairs; largest hip-centre jump {max(jumps) / width:.4f} of the width "
        f"({max(jumps):.0f} px of {width}); median {np.median(jumps) / width:.4f}")


if __name__ == "__main__":
  main()
