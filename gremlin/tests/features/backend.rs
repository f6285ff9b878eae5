//! The backend the feature suite runs against. Until the step machine, parser and GraphSON
//! reader are merged, every traversal fails with a clear "not available" error.

use std::path::Path;

use gremlin::conformance::{Backend, GraphName, Request};
use gremlin::value::Value;

/// Makes backends for worker threads.
pub struct Factory;

impl Factory {
    /// Prepares shared state (graph files are read once here).
    pub fn new(_data_dir: &Path) -> Result<Factory, String> {
        Ok(Factory)
    }

    /// A fresh backend.
    pub fn make(&self) -> Result<Box<dyn Backend + Send>, String> {
        Ok(Box::new(Unavailable))
    }
}

struct Unavailable;

impl Backend for Unavailable {
    fn load(&mut self, _graph: GraphName) -> Result<(), String> {
        Ok(())
    }

    fn execute(&mut self, _request: &Request<'_>) -> Result<Vec<Value>, String> {
        Err("no traversal engine yet (parser/machine not merged)".into())
    }
}
