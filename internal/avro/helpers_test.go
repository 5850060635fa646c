package avro

import "github.com/linkedin/goavro/v2"

type goavroCodec = goavro.Codec
