//! PyTorch's `nn.TransformerEncoderLayer`, `nn.TransformerDecoderLayer` and `nn.Transformer`.
