package infra_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dormant-dev/dormant/services/platform/infra"
)

// kinds holds one field of every kind of value dormant's configuration structs read, with
// field names that repeat across nested structs the way the services' options do (AckWait).
type kinds struct {
	TickInterval time.Duration   `env:"DORMANT_TICK_INTERVAL" envDefault:"1h"`
	MaybeAge     *time.Duration  `env:"DORMANT_MAYBE_AGE"`
	BatchSize    int             `env:"DORMANT_BATCH_SIZE" envDefault:"500"`
	Enabled      bool            `env:"DORMANT_ENABLED" envDefault:"true"`
	Rate         float64         `env:"DORMANT_RATE" envDefault:"10"`
	Webhook      url.URL         `env:"DORMANT_WEBHOOK_URL"`
	Ports        []int           `env:"DORMANT_PORTS" envDefault:"1,2"`
	Waits        []time.Duration `env:"DORMANT_WAITS"`
	PinCount     int             `env:"DORMANT_PIN_TOKEN"`
	Ingest       struct {
		AckWait time.Duration `env:"DORMANT_INGEST_ACK_WAIT" envDefault:"30s"`
	}
	Policy struct {
		AckWait time.Duration `env:"ACK_WAIT" envDefault:"30s"`
	} `envPrefix:"DORMANT_POLICY_"`
}

func TestMalformedValuesAreReportedByVariable(t *testing.T) {
	tests := []struct {
		name    string
		environ map[string]string
		// want are all in the error; never none of them.
		want  []string
		never []string
	}{
		{"a duration with an unknown unit", map[string]string{"DORMANT_TICK_INTERVAL": "5x"},
			[]string{`DORMANT_TICK_INTERVAL="5x": time: unknown unit "x" in duration "5x"`}, nil},
		{"days are not a Go duration", map[string]string{"DORMANT_MAYBE_AGE": "90d"},
			[]string{`DORMANT_MAYBE_AGE="90d": time: unknown unit "d"`}, nil},
		{"a word for a number", map[string]string{"DORMANT_BATCH_SIZE": "five hundred"},
			[]string{`DORMANT_BATCH_SIZE="five hundred": strconv.ParseInt: parsing "five hundred": invalid syntax`}, nil},
		{"a number beyond int", map[string]string{"DORMANT_BATCH_SIZE": "99999999999999999999"},
			[]string{`DORMANT_BATCH_SIZE="99999999999999999999"`, "out of range"}, nil},
		{"yes is not a boolean", map[string]string{"DORMANT_ENABLED": "yes"},
			[]string{`DORMANT_ENABLED="yes": strconv.ParseBool: parsing "yes": invalid syntax`}, nil},
		{"a float with a comma", map[string]string{"DORMANT_RATE": "2,5"},
			[]string{`DORMANT_RATE="2,5"`}, nil},
		{"a URL with a bad port", map[string]string{"DORMANT_WEBHOOK_URL": "http://hook:port/x"},
			[]string{`DORMANT_WEBHOOK_URL="http://hook:port/x"`, "invalid port"}, nil},
		{"a list with one bad element", map[string]string{"DORMANT_PORTS": "80,http"},
			[]string{`DORMANT_PORTS="80,http": strconv.ParseInt: parsing "http"`}, nil},
		{"a list of durations with one bad element", map[string]string{"DORMANT_WAITS": "1s,2"},
			[]string{`DORMANT_WAITS="1s,2"`, "missing unit"}, nil},
		{"fields named alike in two structs are told apart by their variables",
			map[string]string{"DORMANT_INGEST_ACK_WAIT": "30s", "DORMANT_POLICY_ACK_WAIT": "thirty"},
			[]string{`DORMANT_POLICY_ACK_WAIT="thirty"`}, []string{"DORMANT_INGEST_ACK_WAIT"}},
		{"every bad variable is reported at once",
			map[string]string{"DORMANT_TICK_INTERVAL": "5x", "DORMANT_BATCH_SIZE": "x", "DORMANT_ENABLED": "2"},
			[]string{"DORMANT_TICK_INTERVAL=", "DORMANT_BATCH_SIZE=", "DORMANT_ENABLED="}, nil},
		{"a secret's value is withheld", map[string]string{"DORMANT_PIN_TOKEN": "hunter2-but-secret"},
			[]string{"DORMANT_PIN_TOKEN: not a valid whole number (value withheld"}, []string{"hunter2"}},
		{"a URL's password is withheld", map[string]string{"DORMANT_WEBHOOK_URL": "http://u:s3cret@hook:port/x"},
			[]string{"DORMANT_WEBHOOK_URL: not a valid URL (value withheld"}, []string{"s3cret"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var k kinds
			err := infra.ParseEnvFrom(&k, tc.environ)
			if err == nil {
				t.Fatalf("%v accepted: %+v", tc.environ, k)
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			for _, n := range append(tc.never, "parse error on field", "AckWait", "TickInterval", "BatchSize") {
				if strings.Contains(msg, n) {
					t.Errorf("error %q contains %q", msg, n)
				}
			}
		})
	}
}

func TestWellFormedValuesParse(t *testing.T) {
	var k kinds
	err := infra.ParseEnvFrom(&k, map[string]string{
		"DORMANT_TICK_INTERVAL": "90s", "DORMANT_MAYBE_AGE": "0s", "DORMANT_WEBHOOK_URL": "https://hook.example.org/x",
		"DORMANT_PORTS": "80,443", "DORMANT_POLICY_ACK_WAIT": "1m",
	})
	if err != nil {
		t.Fatal(err)
	}
	if k.TickInterval != 90*time.Second || k.MaybeAge == nil || *k.MaybeAge != 0 || k.Webhook.Host != "hook.example.org" ||
		len(k.Ports) != 2 || k.Policy.AckWait != time.Minute || k.Ingest.AckWait != 30*time.Second || k.BatchSize != 500 || !k.Enabled {
		t.Fatalf("parsed %+v", k)
	}
}

// TestUnparseableDefaultNamesTheField: a default that does not parse is the program's bug,
// not the operator's; the error must still say where.
func TestUnparseableDefaultNamesTheField(t *testing.T) {
	var c struct {
		Wait time.Duration `env:"DORMANT_WAIT" envDefault:"soon"`
	}
	err := infra.ParseEnvFrom(&c, map[string]string{})
	if err == nil || !strings.Contains(err.Error(), `"Wait"`) {
		t.Fatalf("err = %v, want it to name the field Wait", err)
	}
}

func TestRequiredVariableIsNamed(t *testing.T) {
	var c struct {
		Must string `env:"DORMANT_MUST,required"`
		N    int    `env:"DORMANT_N"`
	}
	err := infra.ParseEnvFrom(&c, map[string]string{"DORMANT_N": "x"})
	if err == nil || !strings.Contains(err.Error(), "DORMANT_MUST") || !strings.Contains(err.Error(), `DORMANT_N="x"`) {
		t.Fatalf("err = %v, want both DORMANT_MUST and DORMANT_N named", err)
	}
}

// TestInfraConfigErrorsNameVariables runs the real Config: what every service embeds.
func TestInfraConfigErrorsNameVariables(t *testing.T) {
	for key, value := range map[string]string{
		"DORMANT_STREAM_MAX_AGE":         "90d",
		"DORMANT_STREAM_MAX_AGE_AUTH":    "a week",
		"DORMANT_STREAM_REPLICAS":        "three",
		"DORMANT_DUPLICATE_WINDOW":       "10",
		"DORMANT_STREAM_MAX_AGE_RECORDS": "1y",
	} {
		var c infra.Config
		err := infra.ParseEnvFrom(&c, map[string]string{key: value})
		if err == nil || !strings.HasPrefix(err.Error(), key+"="+`"`+value+`": `) {
			t.Errorf("%s=%q: err = %v, want it to start with the variable and value", key, value, err)
		}
	}
}

func TestParseEnvReadsTheProcessEnvironment(t *testing.T) {
	t.Setenv("DORMANT_TICK_INTERVAL", "7x")
	var k kinds
	// Tests hand ParseEnvFrom their own environment; a nil one must not fall back to the
	// process's.
	if err := infra.ParseEnvFrom(&k, nil); err != nil || k.TickInterval != time.Hour {
		t.Fatalf("nil environment: err = %v, interval %s, want the default 1h", err, k.TickInterval)
	}
	if err := infra.ParseEnv(&k); err == nil || !strings.Contains(err.Error(), `DORMANT_TICK_INTERVAL="7x"`) {
		t.Fatalf("err = %v", err)
	}
	t.Setenv("DORMANT_TICK_INTERVAL", "7m")
	if err := infra.ParseEnv(&k); err != nil || k.TickInterval != 7*time.Minute {
		t.Fatalf("err = %v, interval %s", err, k.TickInterval)
	}
}
