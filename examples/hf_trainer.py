"""A Hugging Face Trainer, recorded: python examples/hf_trainer.py -F runs with max_steps=20"""

import torch
import transformers

from experimentkit import Experiment
from experimentkit.integrations.transformers import ExperimentkitCallback

ex = Experiment("tiny_bert")


@ex.config
def config():
    lr = 5e-4
    max_steps = 40
    batch_size = 8


class Sequences(torch.utils.data.Dataset):
    """Random token sequences, labelled by whether the first token is in the upper half."""

    def __init__(self, n, seed):
        self.ids = torch.randint(1, 100, (n, 12), generator=torch.Generator().manual_seed(seed))

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "labels": int(self.ids[i, 0] >= 50)}


@ex.automain
def main(_seed, lr, max_steps, batch_size):
    config = transformers.BertConfig(
        vocab_size=100,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=16,
    )
    model = transformers.BertForSequenceClassification(config)  # randomly initialised: no download
    args = transformers.TrainingArguments(
        "out",
        learning_rate=lr,
        max_steps=max_steps,
        per_device_train_batch_size=batch_size,
        logging_steps=10,
        eval_strategy="steps",
        eval_steps=20,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        seed=_seed % 2**31,
        disable_tqdm=True,
    )
    trainer = transformers.Trainer(
        model=model,
        args=args,
        train_dataset=Sequences(256, _seed),
        eval_dataset=Sequences(64, _seed + 1),
        callbacks=[ExperimentkitCallback()],  # logs into this run
    )
    trainer.train()
    return trainer.evaluate()["eval_loss"]
