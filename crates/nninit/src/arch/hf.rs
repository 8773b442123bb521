//! Hugging Face transformers 5.x models (BERT, GPT-2, Llama) from their `config.json`.
