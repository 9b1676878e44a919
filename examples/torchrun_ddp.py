"""One run for all ranks of a DDP job: torchrun --nproc_per_node=2 examples/torchrun_ddp.py -F runs"""

import torch
import torch.distributed as dist

from experimentkit import Experiment
from experimentkit.integrations.torch import rank_zero_observed, share_run

ex = rank_zero_observed(Experiment("ddp"))  # runs on ranks != 0 are unobserved


@ex.config
def config():
    steps = 50
    lr = 0.05


@ex.automain
def main(_run, steps, lr):
    dist.init_process_group("gloo")  # "nccl" on GPUs
    run = share_run(_run, ranks="all")  # "zero": only rank 0's points are kept
    rank = dist.get_rank()
    model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(8, 1))  # rank 0's weights
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(rank)  # each rank its own batches
    for step in range(steps):
        x = torch.randn(32, 8, generator=generator)
        loss = torch.nn.functional.mse_loss(model(x), x.sum(dim=1, keepdim=True))
        optimizer.zero_grad()
        loss.backward()  # gradients averaged over the ranks
        optimizer.step()
        run.log_scalar("loss", loss.detach(), step)  # loss.rank0, loss.rank1, ...
    dist.barrier()  # rank 0's run ends after every rank has logged
    dist.destroy_process_group()
