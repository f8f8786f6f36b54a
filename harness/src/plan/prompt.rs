//! Prompts: text → token ids with a `tokenizer.json` (the `tokenizers` crate), fitted to the method's fixed input
//! window, and ids → text for generated tokens.

use std::path::{Path, PathBuf};

use crate::results::{Fit, PromptRecord};

#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("tokenizer {path}: {reason}; pass --tokenizer path/to/tokenizer.json (the model's own)")]
    Tokenizer { path: String, reason: String },
    #[error("prompt file {path}: {reason}")]
    File { path: String, reason: String },
    #[error("the prompt is empty{0}; give some text with --prompt or --prompt-file")]
    Empty(String),
    #[error("tokenizer {path} knows {tokenizer_vocab} tokens but model {model} has only {model_vocab} logits per position; use the tokenizer the model was trained with")]
    VocabTooLarge { path: String, tokenizer_vocab: usize, model: String, model_vocab: usize },
}

#[derive(Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    path: PathBuf,
}

impl Tokenizer {
    pub fn load(path: &Path) -> Result<Self, PromptError> {
        let err = |reason: String| PromptError::Tokenizer { path: path.display().to_string(), reason };
        if !path.is_file() {
            return Err(err("no such file".into()));
        }
        let inner =
            tokenizers::Tokenizer::from_file(path).map_err(|e| err(format!("not a valid tokenizer.json ({e})")))?;
        Ok(Self { inner, path: path.to_owned() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Entries including added/special tokens.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Refuses a tokenizer that can produce ids the model has no logits for.
    pub fn check_vocab(&self, model: &str, model_vocab: usize) -> Result<(), PromptError> {
        if self.vocab_size() > model_vocab {
            return Err(PromptError::VocabTooLarge {
                path: self.path.display().to_string(),
                tokenizer_vocab: self.vocab_size(),
                model: model.to_owned(),
                model_vocab,
            });
        }
        Ok(())
    }

    /// Encodes with the tokenizer's own special-token rules (Gemma's tokenizer.json adds `<bos>`).
    pub fn encode(&self, text: &str) -> Result<Vec<i64>, PromptError> {
        if text.trim().is_empty() {
            return Err(PromptError::Empty(String::new()));
        }
        let encoding = self.inner.encode(text, true).map_err(|e| PromptError::Tokenizer {
            path: self.path.display().to_string(),
            reason: format!("could not encode the prompt ({e})"),
        })?;
        let ids: Vec<i64> = encoding.get_ids().iter().map(|&id| id as i64).collect();
        if ids.is_empty() {
            return Err(PromptError::Empty(" after tokenization".into()));
        }
        Ok(ids)
    }

    pub fn decode(&self, ids: &[i64]) -> String {
        let ids: Vec<u32> = ids.iter().filter_map(|&id| u32::try_from(id).ok()).collect();
        self.inner.decode(&ids, true).unwrap_or_default()
    }

    /// `<pad>` if the tokenizer has one, else 0 (Gemma's pad id).
    pub fn pad_id(&self) -> i64 {
        self.inner.token_to_id("<pad>").map(i64::from).unwrap_or(0)
    }
}

/// A model's fixed input length and vocabulary, as its method's metadata states them.
#[derive(Debug, Clone, Copy)]
pub struct ModelWindow {
    pub len: usize,
    /// Logits per position (the output's last dimension), when known.
    pub vocab: Option<usize>,
}

impl ModelWindow {
    /// The window a method's metadata describes (the runner's `--describe`), checking that input 0 takes token ids
    /// and that `tokenizer` fits the vocabulary.
    pub fn from_meta(
        meta: &etbench_protocol::RunnerMeta,
        model_path: &str,
        method: &str,
        tokenizer: &Tokenizer,
    ) -> Result<Self, String> {
        let first = meta
            .inputs
            .first()
            .ok_or_else(|| format!("{model_path}: method `{method}` takes no inputs; a prompt needs a token input"))?;
        if !(first.kind == etbench_protocol::ValueKind::Tensor && first.dtype.is_some_and(|d| d.is_integer())) {
            return Err(format!(
                "{}: input 0 of method `{method}` is {}, not integer token ids: a prompt needs a token input (use --input for other programs)",
                model_path,
                first.describe()
            ));
        }
        let len = first.numel().max(0) as usize;
        let vocab = meta.outputs.first().and_then(|o| o.sizes.last()).filter(|v| **v > 1).map(|v| *v as usize);
        if let Some(vocab) = vocab {
            tokenizer.check_vocab(model_path, vocab).map_err(|e| e.to_string())?;
        }
        Ok(Self { len, vocab })
    }
}

/// A prompt encoded and fitted to one model's window: what the run records, and the ids it feeds.
#[derive(Debug, Clone)]
pub struct FittedPrompt {
    pub record: PromptRecord,
    pub window_ids: Vec<i64>,
}

impl FittedPrompt {
    /// Encodes `text` and fits it to `window`, warning on stderr when the prompt had to be cut.
    pub fn new(tokenizer: &Tokenizer, text: &str, window: ModelWindow, model_path: &str) -> Result<Self, PromptError> {
        let ids = tokenizer.encode(text)?;
        let (window_ids, fit, real_tokens) = fit(&ids, window.len, tokenizer.pad_id());
        if fit == Fit::Truncated {
            crate::say!(
                "etbench: warning: the prompt is {} tokens but {model_path} takes {}: kept the last {}",
                ids.len(),
                window.len,
                window.len
            );
        }
        let record = PromptRecord {
            text: text.to_owned(),
            tokenizer: tokenizer.path().display().to_string(),
            token_ids: ids,
            window: window.len,
            fit,
            real_tokens,
        };
        Ok(Self { record, window_ids })
    }
}

/// Reads a prompt file as UTF-8, naming the offending byte offset otherwise.
pub fn read_prompt_file(path: &Path) -> Result<String, PromptError> {
    let err = |reason: String| PromptError::File { path: path.display().to_string(), reason };
    let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| {
        err(format!("not UTF-8 text (invalid byte at offset {}); save it as UTF-8", e.utf8_error().valid_up_to()))
    })
}

/// Fits ids to a fixed window: right-pads short prompts (causal attention keeps padding out of the real positions'
/// predictions) and keeps the last `window` tokens of long ones. Returns (window ids, fit, real tokens).
pub fn fit(ids: &[i64], window: usize, pad: i64) -> (Vec<i64>, Fit, usize) {
    use std::cmp::Ordering;
    match ids.len().cmp(&window) {
        Ordering::Equal => (ids.to_vec(), Fit::Exact, window),
        Ordering::Less => {
            let mut padded = ids.to_vec();
            padded.resize(window, pad);
            (padded, Fit::Padded, ids.len())
        }
        Ordering::Greater => (ids[ids.len() - window..].to_vec(), Fit::Truncated, window),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_prompts_are_right_padded_and_long_ones_keep_their_end() {
        assert_eq!(fit(&[5, 6], 4, 0), (vec![5, 6, 0, 0], Fit::Padded, 2));
        assert_eq!(fit(&[1, 2, 3, 4, 5, 6], 4, 0), (vec![3, 4, 5, 6], Fit::Truncated, 4));
        assert_eq!(fit(&[1, 2, 3, 4], 4, 0), (vec![1, 2, 3, 4], Fit::Exact, 4));
    }

    #[test]
    fn non_utf8_prompt_file_names_the_offset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.txt");
        std::fs::write(&path, b"hello \xff world").unwrap();
        let err = read_prompt_file(&path).unwrap_err().to_string();
        assert!(err.contains("p.txt") && err.contains("offset 6"), "{err}");
    }

    #[test]
    fn missing_tokenizer_says_which_file_and_what_to_pass() {
        let err = Tokenizer::load(Path::new("/nope/tokenizer.json")).err().unwrap().to_string();
        assert!(err.contains("/nope/tokenizer.json") && err.contains("--tokenizer"), "{err}");
    }
}
