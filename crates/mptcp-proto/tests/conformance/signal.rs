use crate::script::*;
