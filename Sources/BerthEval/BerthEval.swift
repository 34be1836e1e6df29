/// BerthEval: datasets (CSV, .npy) and evaluation metrics for classification and regression.
public enum BerthEval {}
