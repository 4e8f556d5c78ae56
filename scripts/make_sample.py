"""Draw resources/samples/shapes.png: a few flat shapes on a soft gradient, easy to click on.

Made by code so the sample carries no third-party licence. Rerun to regenerate."""
from pathlib import Path

import cv2
import numpy as np

H, W = 360, 480
y, x = np.mgrid[0:H, 0:W]
img = np.stack([180 + 40 * x / W, 190 + 30 * y / H, 200 - 20 * x / W], -1).astype(np.uint8)
cv2.circle(img, (130, 150), 70, (40, 120, 220), -1)  # RGB order: img is RGB
cv2.rectangle(img, (250, 70), (420, 200), (220, 90, 50), -1)
cv2.fillPoly(img, [np.array([[200, 330], [300, 220], [400, 330]])], (60, 170, 80))
cv2.ellipse(img, (90, 300), (50, 30), 20, 0, 360, (230, 200, 40), -1)
out = Path(__file__).resolve().parents[1] / "resources" / "samples" / "shapes.png"
out.parent.mkdir(parents=True, exist_ok=True)
cv2.imwrite(str(out), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
print(out, out.stat().st_size)
