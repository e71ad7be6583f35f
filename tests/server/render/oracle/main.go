// Development oracle: renders Go templates the way Tinkerbell does (sprig hermetic, missingkey=error).
// stdin: JSON list of {"t": template, "d": data (JSON), "mk": option}; stdout: JSON list of results.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"text/template"

	sprig "github.com/Masterminds/sprig"
	"github.com/ghodss/yaml"
	"net"
	"strconv"
	"strings"
)

// The four functions Tinkerbell adds (tink/controller/internal/workflow/template_funcs.go).
func formatPartition(dev string, partition int) string {
	if strings.HasPrefix(dev, "/dev/disk/") {
		return fmt.Sprintf("%v-part%v", dev, partition)
	}
	if len(dev) > 0 && dev[len(dev)-1] >= '0' && dev[len(dev)-1] <= '9' {
		return fmt.Sprintf("%vp%v", dev, partition)
	}
	return fmt.Sprintf("%v%v", dev, partition)
}

func netmaskToPrefixLength(netmask string) (string, error) {
	ip := net.ParseIP(netmask)
	if ip == nil {
		return "", fmt.Errorf("invalid netmask format: %s", netmask)
	}
	ipv4 := ip.To4()
	if ipv4 == nil {
		return "", fmt.Errorf("netmask must be IPv4: %s", netmask)
	}
	ones, _ := net.IPMask(ipv4).Size()
	return strconv.Itoa(ones), nil
}

func toYaml(v interface{}) (string, error) {
	data, err := yaml.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("toYaml: %w", err)
	}
	return strings.TrimSuffix(string(data), "\n"), nil
}

func fromYaml(str string) (interface{}, error) {
	if str == "" {
		return nil, fmt.Errorf("fromYaml: empty YAML input")
	}
	var out interface{}
	if err := yaml.Unmarshal([]byte(str), &out); err != nil {
		return nil, fmt.Errorf("fromYaml: %w", err)
	}
	return out, nil
}

type tcase struct {
	T  string      `json:"t"`
	D  interface{} `json:"d"`
	MK string      `json:"mk"`
}

func ints(v interface{}) interface{} {
	switch x := v.(type) {
	case float64:
		if x == float64(int(x)) && x < 1e15 && x > -1e15 {
			return int(x)
		}
	case []interface{}:
		for i := range x {
			x[i] = ints(x[i])
		}
	case map[string]interface{}:
		for k := range x {
			x[k] = ints(x[k])
		}
	}
	return v
}

func run(c tcase) (out string) {
	defer func() {
		if r := recover(); r != nil {
			out = fmt.Sprintf("PANIC:%v", r)
		}
	}()
	mk := c.MK
	if mk == "" {
		mk = "missingkey=error"
	}
	fm := sprig.HermeticTxtFuncMap()
	fm["formatPartition"] = formatPartition
	fm["netmaskToPrefixLength"] = netmaskToPrefixLength
	fm["toYaml"] = toYaml
	fm["fromYaml"] = fromYaml
	t, err := template.New("t").Option(mk).Funcs(fm).Parse(c.T)
	if err != nil {
		return "ERR:" + err.Error()
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, ints(c.D)); err != nil {
		return "ERR:" + err.Error()
	}
	return "OK:" + buf.String()
}

func main() {
	var cases []tcase
	if err := json.NewDecoder(os.Stdin).Decode(&cases); err != nil {
		fmt.Println("BADJSON", err)
		os.Exit(2)
	}
	outs := []string{}
	for _, c := range cases {
		outs = append(outs, run(c))
	}
	json.NewEncoder(os.Stdout).Encode(outs)
}
