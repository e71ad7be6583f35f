// Development oracle: reads workflow YAML into structs shaped as tink's
// (tink/controller/internal/workflow/types.go), with gopkg.in/yaml.v3 as tink does.
// stdin: JSON list of YAML documents; stdout: JSON list of {"ok": Workflow} or {"err": text}.
package main

import (
	"encoding/json"
	"os"

	"gopkg.in/yaml.v3"
)

type Workflow struct {
	Version       string `yaml:"version" json:"version"`
	Name          string `yaml:"name" json:"name"`
	GlobalTimeout int    `yaml:"global_timeout" json:"global_timeout"`
	Tasks         []Task `yaml:"tasks" json:"tasks"`
}

type Task struct {
	Name        string            `yaml:"name" json:"name"`
	WorkerAddr  string            `yaml:"worker" json:"worker"`
	Actions     []Action          `yaml:"actions" json:"actions"`
	Volumes     []string          `yaml:"volumes,omitempty" json:"volumes"`
	Environment map[string]string `yaml:"environment,omitempty" json:"environment"`
}

type Action struct {
	Name        string            `yaml:"name" json:"name"`
	Image       string            `yaml:"image" json:"image"`
	Timeout     int64             `yaml:"timeout" json:"timeout"`
	Command     []string          `yaml:"command,omitempty" json:"command"`
	Volumes     []string          `yaml:"volumes,omitempty" json:"volumes"`
	Environment map[string]string `yaml:"environment,omitempty" json:"environment"`
	Pid         string            `yaml:"pid,omitempty" json:"pid"`
}

func main() {
	var docs []string
	if err := json.NewDecoder(os.Stdin).Decode(&docs); err != nil {
		panic(err)
	}
	out := []map[string]interface{}{}
	for _, doc := range docs {
		var wf Workflow
		if err := yaml.Unmarshal([]byte(doc), &wf); err != nil {
			out = append(out, map[string]interface{}{"err": err.Error()})
			continue
		}
		out = append(out, map[string]interface{}{"ok": wf})
	}
	json.NewEncoder(os.Stdout).Encode(out)
}
