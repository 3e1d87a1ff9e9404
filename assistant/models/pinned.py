"""The pinned files of the catalogue's sentence-transformers models: (relpath, size, SHA-256).

Each was read out of its package's wheel and hashed here (``catalog.py`` names the wheels).
"""

from __future__ import annotations

MINILM_FILES = (
    ("config.json", 612, "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"),
    (
        "config_sentence_transformers.json",
        116,
        "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3",
    ),
    (
        "model.safetensors",
        90868376,
        "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    ),
    ("modules.json", 349, "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf"),
    (
        "sentence_bert_config.json",
        53,
        "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7",
    ),
    (
        "special_tokens_map.json",
        112,
        "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
    ),
    ("tokenizer.json", 466247, "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"),
    (
        "tokenizer_config.json",
        350,
        "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
    ),
    ("vocab.txt", 231508, "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"),
    (
        "1_Pooling/config.json",
        190,
        "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23",
    ),
)

GEMMA_FILES = (
    ("config.json", 1488, "8f863f76e2d9c710cc833dc92efa898c9adfd41031c786507cc6b0e49c2e3e68"),
    (
        "config_sentence_transformers.json",
        997,
        "8eadac15526f83d8950aa8d962a7f4f6e3d678bea71689960194561f33a5f64f",
    ),
    ("modules.json", 573, "5b5649645fb756dad1a8e2efe7872d3bb32bc00b93c95f276dd17f474eedccdc"),
    (
        "sentence_bert_config.json",
        58,
        "5ea26221ce733ace29a3897360e7c6ac8816b2ca0f7306657d69e594fece7325",
    ),
    (
        "special_tokens_map.json",
        662,
        "2f7b0adf4fb469770bb1490e3e35df87b1dc578246c5e7e6fc76ecf33213a397",
    ),
    ("added_tokens.json", 35, "50b2f405ba56a26d4913fd772089992252d7f942123cc0a034d96424221ba946"),
    (
        "tokenizer_config.json",
        1155346,
        "9076840490613047bc9115963ee96b7702018b0d26ba644240bf856efda93118",
    ),
    (
        "tokenizer.json",
        33385008,
        "6852f8d561078cc0cebe70ca03c5bfdd0d60a45f9d2e0e1e4cc05b68e9ec329e",
    ),
    (
        "tokenizer.model",
        4689074,
        "1299c11d7cf632ef3b4e11937501358ada021bbdf7c47638d13c0ee982f2e79c",
    ),
    (
        "model.safetensors",
        1211486072,
        "cbf5a78393b6a033e0b8a63a57549964f7ed5c6fbeb4ba0694214f36123f2fd2",
    ),
    (
        "1_Pooling/config.json",
        312,
        "35bbd47d7fdf1e378db6130bcc668b09d1aa67a7bbf7c8f89a9c71f4cc8ebcc6",
    ),
    (
        "2_Dense/config.json",
        134,
        "0661e5e0b67b8f8408ab31ab5d073a78972fc1dc24a49992a64796557e4f9e53",
    ),
    (
        "2_Dense/model.safetensors",
        9437272,
        "c327f2acb00149676ade24a75e11eb6ebbd367f9ee050267ba56829d2979f702",
    ),
    (
        "3_Dense/config.json",
        134,
        "8c4575c49353d63fb907878856ba94384635c3b2711fd5b7439e7f71888c66fc",
    ),
    (
        "3_Dense/model.safetensors",
        9437272,
        "ffb6cc5162e11e2ce6bc2367e121ee3bbbc4e82e1ee26826bd7573d4948d81b8",
    ),
)
