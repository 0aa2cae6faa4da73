//! The supported model families and every name they go by, in one table.

/// A supported model family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// Vision Transformer (`ViTModel`, `ViTForImageClassification`).
    Vit,
    /// CLIP dual encoder (`CLIPModel`).
    Clip,
    /// SigLIP dual encoder (`SiglipModel`).
    Siglip,
    /// ViLT vision-and-language transformer (`ViltModel`, `ViltFor…`).
    Vilt,
    /// Audio Spectrogram Transformer (`ASTModel`, `ASTForAudioClassification`).
    Ast,
    /// DeiT (`DeiTModel`, `DeiTForImageClassification[WithTeacher]`).
    Deit,
    /// DINOv2 (`Dinov2Model`, `Dinov2WithRegistersModel`).
    Dinov2,
    /// Chinese-CLIP (`ChineseCLIPModel`): CLIP's vision tower and a BERT text tower.
    ChineseClip,
    /// SigLIP 2 (`Siglip2Model`): SigLIP with NaFlex images (each at its own patch grid).
    Siglip2,
}

/// How one family is named and recognised.
struct Names {
    family: Family,
    /// Name in messages and docs.
    display: &'static str,
    /// Short lower-case id.
    id: &'static str,
    /// `architectures[0]` values that start with this select the family.
    architecture_prefix: &'static str,
    /// The `model_type` value of the family.
    model_type: &'static str,
}

/// In [`Family`] order (checked at compile time); a name is matched against the rows in turn.
const TABLE: [Names; 9] = [
    Names {
        family: Family::Vit,
        display: "ViT",
        id: "vit",
        architecture_prefix: "ViT",
        model_type: "vit",
    },
    Names {
        family: Family::Clip,
        display: "CLIP",
        id: "clip",
        architecture_prefix: "CLIP",
        model_type: "clip",
    },
    Names {
        family: Family::Siglip,
        display: "SigLIP",
        id: "siglip",
        architecture_prefix: "Siglip",
        model_type: "siglip",
    },
    Names {
        family: Family::Vilt,
        display: "ViLT",
        id: "vilt",
        architecture_prefix: "Vilt",
        model_type: "vilt",
    },
    Names {
        family: Family::Ast,
        display: "AST",
        id: "ast",
        architecture_prefix: "AST",
        model_type: "audio-spectrogram-transformer",
    },
    Names {
        family: Family::Deit,
        display: "DeiT",
        id: "deit",
        architecture_prefix: "DeiT",
        model_type: "deit",
    },
    Names {
        family: Family::Dinov2,
        display: "DINOv2",
        id: "dinov2",
        // also `Dinov2WithRegistersModel`
        architecture_prefix: "Dinov2",
        model_type: "dinov2",
    },
    Names {
        family: Family::ChineseClip,
        display: "Chinese-CLIP",
        id: "chinese_clip",
        architecture_prefix: "ChineseCLIP",
        model_type: "chinese_clip",
    },
    Names {
        family: Family::Siglip2,
        display: "SigLIP 2",
        id: "siglip2",
        architecture_prefix: "Siglip2",
        model_type: "siglip2",
    },
];

/// Further `model_type` values of a family (matched exactly, after the table).
const MODEL_TYPE_ALIASES: &[(&str, Family)] = &[("dinov2_with_registers", Family::Dinov2)];

const _: () = {
    let mut i = 0;
    while i < TABLE.len() {
        assert!(
            TABLE[i].family as usize == i,
            "TABLE rows must follow the Family order"
        );
        i += 1;
    }
};

impl Family {
    fn names(self) -> &'static Names {
        &TABLE[self as usize]
    }

    /// Every family, in table order.
    pub fn all() -> impl Iterator<Item = Family> {
        TABLE.iter().map(|n| n.family)
    }

    /// Display name: `"ViT"`, `"CLIP"`, `"SigLIP"`, `"ViLT"`, `"AST"`, `"DeiT"` or `"DINOv2"`.
    pub fn name(self) -> &'static str {
        self.names().display
    }

    /// Short id: `"vit"`, `"clip"`, `"siglip"`, `"vilt"`, `"ast"`, `"deit"` or `"dinov2"`.
    pub fn id(self) -> &'static str {
        self.names().id
    }

    /// The `model_type` written by transformers (`"audio-spectrogram-transformer"` for AST).
    pub fn model_type(self) -> &'static str {
        self.names().model_type
    }

    /// The family an `architectures` entry (by its longest matching prefix, e.g.
    /// `ViTForImageClassification`, `Siglip2Model` before `Siglip`) or a `model_type` (exactly;
    /// `dinov2_with_registers` too) selects.
    pub fn from_name(name: &str) -> Option<Family> {
        if let Some(n) = TABLE.iter().find(|n| name == n.model_type) {
            return Some(n.family);
        }
        TABLE
            .iter()
            .filter(|n| name.starts_with(n.architecture_prefix))
            .max_by_key(|n| n.architecture_prefix.len())
            .map(|n| n.family)
            .or_else(|| MODEL_TYPE_ALIASES.iter().find(|(t, _)| *t == name).map(|(_, f)| *f))
    }

    /// The family with this short id ([`Family::id`]).
    pub fn from_id(id: &str) -> Option<Family> {
        TABLE.iter().find(|n| n.id == id).map(|n| n.family)
    }

    /// The display names joined for messages: `"ViT, CLIP, SigLIP, ViLT, AST, …"`.
    pub fn supported() -> String {
        TABLE
            .iter()
            .map(|n| n.display)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl std::fmt::Display for Family {
    /// The display name ([`Family::name`]).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for f in Family::all() {
            assert_eq!(Family::from_id(f.id()), Some(f));
            assert_eq!(Family::from_name(f.model_type()), Some(f));
            assert_eq!(f.to_string(), f.name());
        }
        assert_eq!(Family::all().count(), 9);
        assert_eq!(Family::from_name("Siglip2Model"), Some(Family::Siglip2));
        assert_eq!(Family::from_name("SiglipModel"), Some(Family::Siglip));
        assert_eq!(Family::from_name("ChineseCLIPModel"), Some(Family::ChineseClip));
        assert_eq!(
            Family::from_name("ViltForImageAndTextRetrieval"),
            Some(Family::Vilt)
        );
        assert_eq!(Family::from_name("ViTMAEModel"), Some(Family::Vit));
        assert_eq!(
            Family::from_name("ASTForAudioClassification"),
            Some(Family::Ast)
        );
        assert_eq!(Family::from_name("LlamaForCausalLM"), None);
        assert_eq!(Family::from_name("DeiTForImageClassificationWithTeacher"), Some(Family::Deit));
        assert_eq!(Family::from_name("Dinov2WithRegistersModel"), Some(Family::Dinov2));
        assert_eq!(Family::from_name("dinov2_with_registers"), Some(Family::Dinov2));
        assert_eq!(Family::supported(), "ViT, CLIP, SigLIP, ViLT, AST, DeiT, DINOv2, Chinese-CLIP, SigLIP 2");
    }
}
