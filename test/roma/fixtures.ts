/** §7 of ROMA-CONTRACT.md: the plan of ROMA's integration script, everything else at its default. */
export const CALCULATOR_PLAN = {
  execution_id: 'integration-test-001',
  scaffolding: {
    task_description: 'Build a simple calculator CLI',
    requirements: ['Add, subtract, multiply, divide operations', 'Command-line interface', 'Error handling for division by zero'],
    dependencies: ['click'],
  },
};
