"""Probability maps (chapters probability/softmax-alternatives and probability/smooth-topk).

``softmax``: sigmoid, softmax and its substitutes (sparse maps, perturb-max, entmax);
``esp``: log e_k(exp(x)) and the GradTopK programmes;
``topk``: smooth approximations of Top-k. Chapters import the part as ``P``:
``from kexue import probability as P``.
"""
from .softmax import (NOISES, ZOO_MAPS, entmax15, entmax_bisect, logsumexp,
                      naive_sparsemax_post, naive_stopgrad_loss_post, perturb_max,
                      perturb_max_mc, relu_exp_gap, sigmoid, softmax, softmax_jacobian,
                      sparse_softmax, sparse_softmax_loss, sparsemax, sparsemax_loss,
                      sparsemax_threshold, stopgrad_surrogate_loss, surrogate_inputs,
                      taylor_softmax, zoo_map, accuracy_loss, LINEAR_LOSSES,
                      fit_linear_classifier, am_softmax_loss, cosine_softmax_max_prob,
                      fit_cosine_classifier, taylor_features, taylor_linear_attention)
from .esp import log_esp, log_esp_brute
from .topk import (METHOD_F, THRESHOLD_FS, TOPK_METHODS, ThreTopK, grad_topk, hard_topk,
                   naive_grad_topk_recurrence, smooth_topk, su_iteration,
                   thre_topk, thre_topk_lambda, thre_topk_lambda_grad, threshold_f,
                   threshold_f_prime, topk_l1_distance, weighted_softmax_iteration)

__all__ = ["NOISES", "ZOO_MAPS", "entmax15", "entmax_bisect", "logsumexp",
           "naive_sparsemax_post", "naive_stopgrad_loss_post", "perturb_max", "perturb_max_mc",
           "relu_exp_gap", "sigmoid", "softmax", "softmax_jacobian", "sparse_softmax",
           "sparse_softmax_loss", "sparsemax", "sparsemax_loss", "sparsemax_threshold",
           "stopgrad_surrogate_loss", "surrogate_inputs", "taylor_softmax", "zoo_map",
           "accuracy_loss", "LINEAR_LOSSES", "fit_linear_classifier", "am_softmax_loss",
           "cosine_softmax_max_prob", "fit_cosine_classifier", "taylor_features",
           "taylor_linear_attention",
           "METHOD_F", "THRESHOLD_FS", "TOPK_METHODS", "ThreTopK", "grad_topk", "hard_topk",
           "log_esp", "log_esp_brute", "naive_grad_topk_recurrence", "smooth_topk",
           "su_iteration", "thre_topk", "thre_topk_lambda", "thre_topk_lambda_grad",
           "threshold_f", "threshold_f_prime", "topk_l1_distance", "weighted_softmax_iteration"]
