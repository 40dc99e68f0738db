"""Training steps/s of the DRG-shallow architecture in PyTorch (CPU), for comparison with
`cargo bench --bench train` (same sizes: 256 kernels of 15, strand max, GELU, DRG weighted
pooling of 81 with min padding, linear read-out to 45 tracks; 401 bp; batch 64; AdamW; MSE).

Usage: python scripts/bench_train_torch.py [steps]   (needs torch and numpy; not used by tests)
"""
import sys
import time

import torch
import torch.nn.functional as F

torch.manual_seed(0)
torch.set_num_threads(torch.get_num_threads())
L, K, W, T, B, POOL = 401, 256, 15, 45, 64, 81
PAD = (-(-L // POOL) * POOL - L + 1) // 2
BINS = (L + 2 * PAD) // POOL


class DrgShallow(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv1d(4, K, W, padding="same", bias=False)
        self.linear = torch.nn.Linear(K * BINS, T)

    def forward(self, x):  # x: (N, 4, L)
        f = self.conv(x)
        r = torch.flip(self.conv(torch.flip(x, [1, 2])), [2])
        h = F.gelu(torch.maximum(f, r))
        m = h.amin(dim=(1, 2), keepdim=True)
        h = torch.cat([m.expand(-1, K, PAD), h, m.expand(-1, K, PAD)], 2)
        h = h[:, :, : BINS * POOL].reshape(h.shape[0], K, BINS, POOL)
        h = (h * torch.softmax(h, -1)).sum(-1)
        return self.linear(h.flatten(1))


def main():
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    model = DrgShallow()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
    idx = torch.randint(0, 4, (B, L))
    x = F.one_hot(idx, 4).float().transpose(1, 2).contiguous()
    y = torch.rand(B, T)
    for _ in range(3):
        opt.zero_grad()
        F.mse_loss(model(x), y).backward()
        opt.step()
    t0 = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad()
        F.mse_loss(model(x), y).backward()
        opt.step()
    dt = time.perf_counter() - t0
    print(f"pytorch {torch.__version__} cpu threads={torch.get_num_threads()}: {steps / dt:.3f} steps/s "
          f"({1000 * dt / steps:.1f} ms/step, batch {B})")


if __name__ == "__main__":
    main()
