"""Every registered reproduction: one line each (see `weightspace.reproduce.registry`)."""

from weightspace.reproduce.registry import register

register(
    "hyperreps-2021",
    "Schürholt et al., NeurIPS 2021, Self-supervised representation learning on NN weights",
    "a learned hyper-representation predicts test accuracy, epoch and generalization gap "
    "better than the weights (W) or their statistics (s(W))",
    "weightspace.reproduce.findings:hyperreps_2021",
    takes_zoo=True,
)
register(
    "generative-2022",
    "Schürholt et al., NeurIPS 2022, Hyper-representations as generative models",
    "networks sampled from a KDE over the best models' embeddings work zero-shot far above "
    "random initialization, and fine-tune faster",
    "weightspace.reproduce.findings:generative_2022",
    takes_zoo=True,
)
register(
    "sane-2024",
    "Schürholt et al., ICML 2024, Towards scalable and versatile weight space learning (SANE)",
    "SANE's embeddings predict model accuracy (R² ≈ 0.96 over CNN zoos)",
    "weightspace.reproduce.findings:sane_2024",
    takes_zoo=True,
)
register(
    "behaviour-2025",
    "Meynent et al., 2025, Structure is not enough: behavioural loss for weight-space learning",
    "adding a behavioural loss makes reconstructed models agree with the originals far more "
    "often, and embeddings predict accuracy better",
    "weightspace.reproduce.findings:behaviour_2025",
    takes_zoo=True,
)
register(
    "twins-2023",
    "Honegger, Schürholt & Borth 2023, Sparsified model zoo twins",
    "magnitude pruning and variational dropout both keep accuracy at high sparsity (MP better "
    "below 80 %, VD above); twins agree with their originals and their accuracies correlate",
    "weightspace.reproduce.twins:reproduce_twins",
)
register(
    "sane-2024-across",
    "Schürholt et al., ICML 2024 (SANE) and MultiZoo-SANE 2025: one SANE across architectures",
    "one SANE embeds networks of many architectures, beating statistics on a heterogeneous "
    "zoo, and initializes architectures it never saw better than training from scratch",
    "weightspace.reproduce.across:reproduce_across",
)
