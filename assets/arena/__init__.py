"""Arena behaviours: how models differ in Chatbot Arena battles, and which differences win."""
