package deploytest

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Unit is what deploytest reads of a systemd unit: its [Service] settings, each key's values
// in order.
type Unit map[string][]string

// ReadUnit reads the [Service] section of a unit file.
func ReadUnit(path string) (Unit, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	u, section := Unit{}, ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if strings.HasPrefix(line, "[") {
			section = strings.Trim(line, "[]")
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s: %q is not key=value", path, line)
		}
		if section == "Service" {
			u[k] = append(u[k], v)
		}
	}
	return u, sc.Err()
}

// ReadEnvFile reads a systemd EnvironmentFile (KEY=value lines, # comments).
func ReadEnvFile(path string) (map[string]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for i, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: not KEY=value", path, i+1)
		}
		out[k] = strings.Trim(v, `"`)
	}
	return out, nil
}

// CheckUnit checks the single-binary unit with its environment file against the dormant
// binary: what it runs, that it runs unprivileged with its data in StateDirectory, and the
// environment both give it. sitesFile is the sites file DORMANT_CONFIG stands for.
func CheckUnit(u Unit, envFile map[string]string, sitesFile string) error {
	var errs []error
	b, _ := BinaryNamed("dormant")
	if got := u["ExecStart"]; len(got) != 1 || got[0] != b.ImagePath()+" serve" {
		errs = append(errs, fmt.Errorf("ExecStart %v: want %q", got, b.ImagePath()+" serve"))
	}
	if !(len(u["DynamicUser"]) == 1 && u["DynamicUser"][0] == "yes") && len(u["User"]) == 0 {
		errs = append(errs, errors.New("runs as root: want DynamicUser=yes or User="))
	}
	envs := map[string]string{}
	for k, v := range envFile {
		envs[k] = v
	}
	for _, e := range u["Environment"] {
		k, v, _ := strings.Cut(e, "=")
		envs[k] = v
	}
	if state := u["StateDirectory"]; len(state) != 1 || envs["DORMANT_DATA_DIR"] != "/var/lib/"+state[0] {
		errs = append(errs, fmt.Errorf("DORMANT_DATA_DIR %q is not the StateDirectory %v (the only writable place)", envs["DORMANT_DATA_DIR"], state))
	}
	if len(u["EnvironmentFile"]) != 1 {
		errs = append(errs, errors.New("want one EnvironmentFile (the secrets)"))
	}
	sites, err := LoadSites(sitesFile)
	if err != nil {
		errs = append(errs, err)
	}
	if err := b.CheckEnv(envs, sites); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
