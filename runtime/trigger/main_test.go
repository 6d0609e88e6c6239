package trigger_test

import (
	"testing"

	"github.com/netrun/netrun/internal/testpeer"
)

func TestMain(m *testing.M) { testpeer.VerifyTestMain(m) }
