"""The simulator's routes, one module per resource: agency (child accounts and their
webhooks), lines, messages (with media), control (operator drills) and phone (the
person's handset). Each handler takes the simulator explicitly: `handler(sim, request)`."""
