"""`vr train`: build loaders and model from a :class:`TrainConfig`, train, validate, checkpoint, resume."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import time
from dataclasses import asdict
from pathlib import Path

import torch

from vr.errors import Interrupted, VrError
from vr.evaluation.predict import predict
from vr.locks import output_lock
from vr.models.checkpoint import model_checkpoint
from vr.models.files import CheckpointError, load_checkpoint, save_checkpoint
from vr.models.registry import ModelArgumentError, UnknownModelError, check_model_args
from vr.pipelines.backends import VIDEO_BACKEND
from vr.pipelines.sources import data_info
from vr.runtime import check_precision, resolve_device, use_device
from vr.storage import StorageError
from vr.threads import available_cpus, set_torch_threads
from vr.train.config import TrainConfig
from vr.train.distributed import DistInfo, all_sum, barrier, gather_objects, init_distributed, shutdown
from vr.train.engine import EpochStats, StopFlag, train_epoch
from vr.train.logs import CsvLog, Scalars
from vr.train.optim import build_optimizer, build_scheduler, current_lr
from vr.train.state import rng_state, set_rng_state, unwrap

log = logging.getLogger("vr.train")


class TrainError(VrError, RuntimeError):
    """A problem with the run's inputs, found before any training work."""


def clip_shape(config: TrainConfig) -> tuple[int, int, int]:
    """``(T, H, W)`` of the run's training clips."""
    return (config.sampling.clip_len, config.sampling.size, config.sampling.size)


def build_loaders(
    config: TrainConfig, dist_info: DistInfo, device: torch.device, start_epoch: int = 0, start_batch: int = 0
):
    """The training loader (its first pass from batch ``start_batch`` of epoch ``start_epoch``, 0-based)
    and, when there is validation data, the validation loader (centre clips)."""
    from vr.pipelines.loader import build_loader

    if config.loader.backend == VIDEO_BACKEND:
        return _video_loaders(config, dist_info, device, start_batch)
    dali_gpu = device.type == "cuda" and config.loader.backend == "dali"
    options = dataclasses.replace(  # what this process runs as
        config.loader,
        rank=dist_info.rank,
        world_size=dist_info.world_size,
        device_id=(device.index or 0) if dali_gpu else None,
        pin_memory=device.type == "cuda",
        storage_options=config.loader.storage_options or None,
    )
    common = dict(modality=config.modality, frames_root=config.frames_root, flow_root=config.flow_root)
    try:
        train = build_loader(
            config.data,
            sampling=config.sampling,
            options=dataclasses.replace(options, start_epoch=start_epoch, start_batch=start_batch),
            subset=config.train_subset,
            **common,
        )
        val = None
        val_source = config.val_data or (config.data if config.val_subset else None)
        if val_source is not None:
            val_sampling = dataclasses.replace(config.sampling, mode="eval")  # centre clips
            val = build_loader(
                val_source, sampling=val_sampling, options=options, subset=config.val_subset, **common
            )
    except (ValueError, OSError, StorageError) as e:
        raise TrainError(str(e)) from None
    if train.n_items < config.loader.batch_size and not dist_info.enabled:
        raise TrainError(
            f"batch size {config.loader.batch_size} is larger than the training set ({train.n_items} clips)"
        )
    return train, val


def _video_loaders(config: TrainConfig, dist_info: DistInfo, device: torch.device, start_batch: int):
    """``--loader dali-video``: DALI's reader straight from the manifest's video files (training only)."""
    from vr.pipelines.video import video_loader

    if config.val_data or config.val_subset:
        raise TrainError("--loader dali-video trains only; validate with `vr eval` on frames or shards")
    if start_batch:
        raise TrainError("--loader dali-video cannot resume mid-epoch; resume from the last epoch's end")
    try:
        train = video_loader(
            config.data,
            config.videos_root,
            config.train_subset,
            clip_len=config.sampling.clip_len,
            frame_stride=config.sampling.frame_stride,
            size=config.sampling.size,
            batch_size=config.loader.batch_size,
            seed=config.loader.seed,
            rank=dist_info.rank,
            world_size=dist_info.world_size,
            device_id=(device.index or 0) if device.type == "cuda" else None,
            num_threads=config.loader.num_threads,
        )
    except (ValueError, OSError) as e:
        raise TrainError(str(e)) from None
    return train, None


def _partial_state(partial: EpochStats) -> dict:
    """How far an epoch got, as a checkpoint keeps it (numbers only)."""
    return {k: v for k, v in asdict(partial).items() if k != "error"}


def build_model(config: TrainConfig, num_classes: int) -> torch.nn.Module:
    """The model of ``config``; with ``--pretrain`` built with the options its checkpoint's network needs
    (e.g. MMAction2's CSN batch-norm epsilon; the user's ``--model-arg`` wins) and loaded strictly."""
    from vr.models import (
        ClipSizeError,
        check_clip,
        create_model,
        load_pretrained,
        model_info,
        read_pretrained,
    )
    from vr.models.checkpoint import build_fitting
    from vr.models.files import CheckpointError

    try:
        model_info(config.model)  # an unknown name is the model's fault, not the --pretrain file's
    except ValueError as e:
        raise TrainError(f"cannot build model {config.model!r}: {e}") from None
    state, implied = None, {}
    if config.pretrain:
        try:
            state, implied = read_pretrained(config.pretrain, config.model, config.pretrain_source)
        except (ValueError, KeyError, RuntimeError, OSError) as e:
            raise TrainError(f"--pretrain {config.pretrain}: {e}") from None
    args = {**implied, **config.model_args}
    try:
        check_clip(config.model, clip_shape(config), num_classes, config.in_channels, **args)
        if state is None:
            model = create_model(
                config.model, num_classes=num_classes, in_channels=config.in_channels, **args
            )
        else:  # checked against the checkpoint on the meta device first: nothing too large is allocated
            model = build_fitting(
                config.model,
                state,
                n_pretrain_classes=config.n_pretrain_classes,
                in_channels_from_rgb=config.pretrain_rgb_to_flow,
                num_classes=num_classes,
                in_channels=config.in_channels,
                **args,
            )
    except CheckpointError as e:
        raise TrainError(f"--pretrain {config.pretrain}: {e}") from None
    except ClipSizeError as e:
        raise TrainError(
            f"--clip-len {config.sampling.clip_len} --size {config.sampling.size}: {e}"
        ) from None
    except (TypeError, ValueError) as e:
        raise TrainError(f"cannot build model {config.model!r}: {e}") from None
    if state is not None:
        try:
            load_pretrained(
                model,
                state,
                source="vr",
                n_pretrain_classes=config.n_pretrain_classes,
                in_channels_from_rgb=config.pretrain_rgb_to_flow,
            )
        except (ValueError, KeyError, RuntimeError, OSError) as e:
            raise TrainError(f"--pretrain {config.pretrain}: {e}") from None
    return model


class Run:
    """The state of one training run in ``config.out``."""

    def __init__(self, config: TrainConfig, resume: bool = False, progress: bool = True):
        self._held = contextlib.ExitStack()
        self.dist = DistInfo()
        try:
            self._start(config, resume, progress)
        except BaseException:
            self.close()
            raise

    def _start(self, config: TrainConfig, resume: bool, progress: bool) -> None:
        self.config, self.progress = config, progress
        self.out = Path(config.out)
        try:  # a bad model name or argument is said before any data is read
            check_model_args(config.model, config.model_args)
        except (UnknownModelError, ModelArgumentError) as e:
            raise TrainError(f"cannot build model {config.model!r}: {e}") from None
        # this process's device (under a launcher: LOCAL_RANK % visible GPUs), current before the
        # process group exists, so NCCL and pinned memory never start on another GPU
        self.device = use_device(resolve_device(config.device))
        self.dist = init_distributed(self.device)
        if self.dist.is_main:  # the run folder has one writer, and holds one run unless resumed
            self._held.enter_context(output_lock(self.out, "`vr train`"))
            if not resume and (self.out / "last.pth").exists():
                raise TrainError(
                    f"{self.out} already holds a run; use --resume to continue it or another --out"
                )
        local = int(os.environ.get("LOCAL_WORLD_SIZE", "1")) if self.dist.enabled else 1
        self.threads = set_torch_threads(config.threads or max(1, available_cpus() // max(local, 1)))
        check_precision(config.precision, self.device)
        # each rank its own stream (dropout, the frame-shuffled control): ranks seeded alike would draw
        # the same masks; the weights still start as rank 0's (DDP broadcasts them)
        torch.manual_seed(config.loader.seed + self.dist.rank)
        checkpoint = self._checkpoint_to_resume() if resume else None
        self.start_epoch = checkpoint["epoch"] + 1 if checkpoint else 1
        partial = (checkpoint or {}).get("partial")
        self.resume_stats = EpochStats(**partial) if partial else None  # the start epoch, done in part
        self.train_loader, self.val_loader = build_loaders(
            config, self.dist, self.device, self.start_epoch - 1, self.resume_stats.steps if partial else 0
        )
        self.labels = self.train_loader.labels
        try:
            if config.loader.backend == VIDEO_BACKEND:  # decoded at the crop size's short side
                self.data_info = {"short_side": config.sampling.size}
            else:
                self.data_info = data_info(self.train_loader.source)
        except StorageError as e:
            raise TrainError(str(e)) from None
        if not self.labels:
            raise TrainError(f"{config.data}: the training data has no label list")
        if checkpoint and checkpoint.get("labels") and checkpoint["labels"] != self.labels:
            raise TrainError("the checkpoint's labels differ from the training data's labels")
        model = build_model(config, len(self.labels)).to(self.device)
        if config.channels_last:
            model = model.to(memory_format=torch.channels_last_3d)
        self.model = model
        try:
            self.optimizer = build_optimizer(model, config)
            self.scheduler = build_scheduler(self.optimizer, config)
        except ValueError as e:  # --ft-begin-module that names no module, a bad schedule ...
            raise TrainError(str(e)) from None
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=config.precision == "fp16")
        self.best_acc = -1.0
        if checkpoint:
            unwrap(self.model).load_state_dict(checkpoint["state_dict"])
            self.optimizer.load_state_dict(checkpoint["optimizer"])
            self.scheduler.load_state_dict(checkpoint["scheduler"])
            self.scaler.load_state_dict(checkpoint["scaler"])
            self.best_acc = checkpoint.get("best_acc", -1.0)
            self._restore_rng(checkpoint)
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        if config.compile:
            self.model = torch.compile(self.model)
        self._open_logs(resume_after=self.start_epoch - 1 if checkpoint else None)

    def _restore_rng(self, checkpoint: dict) -> None:
        """This rank's RNG states as the checkpoint saved them (every rank's, saved by rank 0); a
        checkpoint of another world size, or of a run that stopped on one rank's error, has rank 0's
        only: the other ranks then start new streams from the seed, the rank and the epoch."""
        states = checkpoint.get("rng_states")
        if states and len(states) == self.dist.world_size:
            set_rng_state(states[self.dist.rank])
            return
        set_rng_state(checkpoint["rng_state"])
        if self.dist.rank > 0:
            torch.manual_seed(self.config.loader.seed + self.dist.rank + 1000 * self.start_epoch)
            log.warning(
                "rank %d resumes with a new RNG stream: the checkpoint holds %s",
                self.dist.rank,
                f"the RNG states of {len(states)} ranks" if states else "rank 0's RNG state only",
            )

    def _checkpoint_to_resume(self) -> dict | None:
        path = self.out / "last.pth"
        if not path.exists():
            return None
        try:
            checkpoint = load_checkpoint(path)
        except CheckpointError as e:
            raise TrainError(f"cannot resume: {e}") from None
        if not isinstance(checkpoint, dict) or "epoch" not in checkpoint or "state_dict" not in checkpoint:
            raise TrainError(f"cannot resume: {path} is not a vr train checkpoint")
        if checkpoint.get("arch") != self.config.model:
            raise TrainError(f"{path} is a {checkpoint.get('arch')} run, not {self.config.model}")
        if checkpoint.get("modality") != self.config.modality:
            raise TrainError(f"{path} is a {checkpoint.get('modality')} run, not {self.config.modality}")
        return checkpoint

    def _open_logs(self, resume_after: int | None) -> None:
        self.train_log = self.val_log = self.scalars = None
        if not self.dist.is_main:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        self.config.save(self.out / "config.json")
        self.train_log = CsvLog(
            self.out / "train.log", ["epoch", "loss", "acc", "lr", "skipped"], resume_after
        )
        self.val_log = CsvLog(self.out / "val.log", ["epoch", "loss", "acc"], resume_after)
        self.scalars = Scalars(self.out / "tb")

    def _save(self, name: str, epoch: int, partial: EpochStats | None = None, together: bool = True) -> None:
        """Checkpoint after epoch ``epoch``; ``partial``: how far epoch ``epoch + 1`` got (its batches
        done and their loss sums), from which ``--resume`` continues. ``together``: every rank calls
        this at the same point (a collective gathers their RNG states); False where one rank may be
        alone (a storage error), which saves rank 0's only."""
        states = gather_objects(rng_state(), self.dist) if together else None
        if not self.dist.is_main:
            return
        state = {
            **model_checkpoint(unwrap(self.model), self.labels),  # what eval, infer and export read
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": epoch,
            "rng_state": rng_state(),  # rank 0's (read by earlier versions)
            "rng_states": states,  # every rank's, in rank order
            "best_acc": self.best_acc,
            "config": self.config.to_json(),
            "clip": list(clip_shape(self.config)),  # also in config.sampling; read by older versions
            "data_info": self.data_info,
            "partial": None if partial is None else _partial_state(partial),
        }
        save_checkpoint(self.out / name, state)

    def _validate(self) -> tuple[float, float]:
        # the plain module: a DDP wrapper's forward broadcasts buffers, a collective that a rank whose
        # validation clips are all unreadable would never join
        ids, scores, labels, losses = predict(
            unwrap(self.model),
            self.val_loader,
            self.device,
            precision=self.config.precision,
            channels_last=self.config.channels_last,
            progress=self.progress and self.dist.is_main,
            desc="val",
        )
        correct = float((scores.argmax(1) == labels).sum()) if len(ids) else 0.0
        loss_sum, correct, n = all_sum([float(losses.sum()), correct, float(len(ids))], self.dist)
        return loss_sum / max(n, 1), correct / max(n, 1)

    def fit(self) -> list[dict]:
        """Train from ``start_epoch`` to ``epochs``; returns the history rows of this call."""
        config, history = self.config, []
        with StopFlag() as stop:
            for epoch in range(self.start_epoch, config.epochs + 1):
                lr = current_lr(self.optimizer)
                resume = self.resume_stats if epoch == self.start_epoch else None

                def on_step(done: EpochStats, epoch: int = epoch) -> None:
                    if config.checkpoint_steps and done.steps % config.checkpoint_steps == 0:
                        self._save("last.pth", epoch - 1, partial=done)

                stats = train_epoch(
                    self.model,
                    self.train_loader,
                    self.optimizer,
                    self.scaler,
                    self.device,
                    config,
                    epoch=epoch,
                    dist=self.dist,
                    stop=stop,
                    on_step=on_step,
                    resume=resume,
                    progress=self.progress and self.dist.is_main,
                    desc=f"epoch {epoch}/{config.epochs}",
                )
                if stats.interrupted:
                    # --resume continues this epoch after its last optimizer step
                    # a storage error may stop one rank alone: no collective then
                    self._save("last.pth", epoch - 1, partial=stats, together=not stats.error)
                    where = f"epoch {epoch} after {stats.steps} batches; saved {self.out / 'last.pth'}"
                    if stats.error:
                        raise TrainError(f"{stats.error}; stopped in {where}: rerun with --resume once fixed")
                    signum = stop.signum or signal.SIGTERM  # DDP: another rank got it
                    name = signal.Signals(signum).name
                    raise Interrupted(signum, f"stopped by {name} during {where} (`--resume` continues)")
                skipped = float(len(self.train_loader.skipped) + stats.dropped)
                totals = all_sum([stats.loss_sum, stats.correct, float(stats.clips), skipped], self.dist)
                stats = EpochStats(totals[0], totals[1], int(totals[2]), stats.seconds)
                row = {
                    "epoch": epoch,
                    "loss": stats.loss,
                    "acc": stats.acc,
                    "lr": lr,
                    "clips_per_s": stats.clips_per_s,
                    "skipped": int(totals[3]),
                }
                val_loss = None
                if self.val_loader is not None and (epoch % config.val_every == 0 or epoch == config.epochs):
                    try:
                        val_loss, val_acc = self._validate()
                    except StorageError as e:
                        self._save("last.pth", epoch, together=False)
                        raise TrainError(f"validation after epoch {epoch}: {e}; saved last.pth") from None
                    row.update(val_loss=val_loss, val_acc=val_acc)
                self._step_scheduler(val_loss if val_loss is not None else stats.loss)
                self._log(row)
                history.append(row)
                score = row.get("val_acc", row["acc"])
                if score > self.best_acc:
                    self.best_acc = score
                    self._save("best.pth", epoch)
                self._save("last.pth", epoch)
                if config.checkpoint_every and epoch % config.checkpoint_every == 0:
                    self._save(f"save_{epoch}.pth", epoch)
                barrier(self.dist)
        if self.scalars is not None:
            self.scalars.close()
        return history

    def _step_scheduler(self, monitored: float) -> None:
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler.step(monitored)
        else:
            self.scheduler.step()

    def _log(self, row: dict) -> None:
        if not self.dist.is_main:
            return
        self.train_log.log(
            epoch=row["epoch"], loss=row["loss"], acc=row["acc"], lr=row["lr"], skipped=row["skipped"]
        )
        if "val_loss" in row:
            self.val_log.log(epoch=row["epoch"], loss=row["val_loss"], acc=row["val_acc"])
        for key in ("loss", "acc", "lr", "val_loss", "val_acc", "clips_per_s"):
            if key in row:
                self.scalars.add(key, row[key], row["epoch"])
        val = f", val loss {row['val_loss']:.4f} acc {row['val_acc']:.3f}" if "val_loss" in row else ""
        skipped = (
            f", {row['skipped']} clip(s) skipped (unreadable samples, batches of one)"
            if row["skipped"]
            else ""
        )
        log.info(
            "epoch %d: loss %.4f acc %.3f lr %.3g, %.1f clips/s%s%s",
            row["epoch"],
            row["loss"],
            row["acc"],
            row["lr"],
            row["clips_per_s"],
            val,
            skipped,
        )

    def close(self) -> None:
        shutdown(self.dist)
        self._held.close()


def train(config: TrainConfig, resume: bool = False, progress: bool = True) -> list[dict]:
    """Run (or resume) training; returns the per-epoch rows (epoch, loss, acc, lr, val_loss, val_acc)."""
    run = Run(config, resume=resume, progress=progress)
    started = time.perf_counter()
    try:
        history = run.fit()
    finally:
        run.close()
    log.info("trained in %.1f s", time.perf_counter() - started)
    return history
