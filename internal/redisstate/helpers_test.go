package redisstate

import (
	"strconv"
	"time"
)

func randSuffix() string { return strconv.FormatInt(time.Now().UnixNano(), 36) }
