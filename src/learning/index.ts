/**
 * `xbar/learning`: networks on arrays and the training rules, each a pipeline over the Board
 * interface (on-chip backpropagation, hybrid training, drift-exploiting sparse learning, the
 * stashing system of a spiking network, retraining of neuron-synapse cells), and the MNIST loader.
 */
export * from "./datasets/mnist.ts";
export * from "./retrain/retrain.ts";
export * from "./snn/snn.ts";
export * from "./training/train.ts";
